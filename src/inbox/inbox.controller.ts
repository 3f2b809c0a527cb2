import { BadRequestException, Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Req } from '@nestjs/common';
import { INBOX_LIMIT_DEFAULT, InboxPage, InboxReadResponse } from '@herald/client/protocol';
import type { AuthenticatedRequest } from '../auth/scopes.guard';
import { RequireToken } from '../auth/scopes.guard';
import { InboxQueryDto } from './dto/inbox-query.dto';
import { MarkReadDto } from './dto/mark-read.dto';
import { InboxService } from './inbox.service';

/** The signed-in user's own inbox, for notification widgets; authorised by the user's token. */
@Controller('v1/inbox')
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  @RequireToken()
  list(@Req() request: AuthenticatedRequest, @Query() { limit = INBOX_LIMIT_DEFAULT, before }: InboxQueryDto): Promise<InboxPage> {
    return this.inbox.list(request.principal.user, limit, before);
  }

  @Post('read')
  @HttpCode(HttpStatus.OK)
  @RequireToken()
  markRead(@Req() request: AuthenticatedRequest, @Body() { ids, all }: MarkReadDto): Promise<InboxReadResponse> {
    if (ids !== undefined && all !== undefined) throw new BadRequestException(['send either ids or all, not both']);
    return this.inbox.markRead(request.principal.user, all ? 'all' : ids!);
  }
}
