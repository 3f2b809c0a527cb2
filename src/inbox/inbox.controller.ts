import { BadRequestException, Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Req, UseFilters } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiPayloadTooLargeResponse, ApiServiceUnavailableResponse, ApiTags, ApiUnsupportedMediaTypeResponse } from '@nestjs/swagger';
import { INBOX_LIMIT_DEFAULT, InboxPage, InboxReadResponse } from '@herald/client/protocol';
import type { AuthenticatedRequest } from '../auth/scopes.guard';
import { RequireToken } from '../auth/scopes.guard';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { InboxPageDto, InboxReadResponseDto } from './dto/inbox-page.dto';
import { InboxQueryDto } from './dto/inbox-query.dto';
import { MarkReadDto } from './dto/mark-read.dto';
import { InboxUnavailableFilter } from './inbox-unavailable.filter';
import { InboxService } from './inbox.service';

/** The signed-in user's own inbox, for notification widgets; authorised by the user's token. */
@ApiTags('inbox')
@Controller('v1/inbox')
@UseFilters(InboxUnavailableFilter)
@ApiServiceUnavailableResponse({ type: HttpErrorDto, description: 'The message broker is unreachable' })
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  @RequireToken()
  @ApiOperation({ summary: "The token's user's inbox, newest first" })
  @ApiOkResponse({ type: InboxPageDto })
  @ApiBadRequestResponse({ type: HttpErrorDto })
  list(@Req() request: AuthenticatedRequest, @Query() { limit = INBOX_LIMIT_DEFAULT, before }: InboxQueryDto): Promise<InboxPage> {
    return this.inbox.list(request.principal.user, limit, before);
  }

  @Post('read')
  @HttpCode(HttpStatus.OK)
  @RequireToken()
  @ApiOperation({ summary: 'Mark inbox items (or all) read; every connection of the user gets an inbox event' })
  @ApiOkResponse({ type: InboxReadResponseDto })
  @ApiBadRequestResponse({ type: HttpErrorDto })
  @ApiPayloadTooLargeResponse({ type: HttpErrorDto, description: 'Body larger than MAX_PUBLISH_BYTES (once inflated)' })
  @ApiUnsupportedMediaTypeResponse({ type: HttpErrorDto, description: 'The body is not JSON, or in a charset or Content-Encoding it does not read' })
  markRead(@Req() request: AuthenticatedRequest, @Body() { ids, all }: MarkReadDto): Promise<InboxReadResponse> {
    if (ids !== undefined && all !== undefined) throw new BadRequestException(['ids and all must not both be sent']);
    return this.inbox.markRead(request.principal.user, all ? 'all' : ids!);
  }
}
