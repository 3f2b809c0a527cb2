import { ApiAcceptedResponse, ApiBadRequestResponse, ApiConflictResponse, ApiOperation, ApiPayloadTooLargeResponse, ApiServiceUnavailableResponse, ApiTags, ApiUnsupportedMediaTypeResponse } from '@nestjs/swagger';
import { Body, Controller, HttpCode, HttpStatus, Post, UseFilters } from '@nestjs/common';
import { PUBLISH_TARGETS_MAX, PublishResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { Scope } from '../auth/principal';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { PublishResponseDto } from './dto/publish-response.dto';
import { NotificationsService } from './notifications.service';
import { PublishConflictFilter } from './publish-conflict.filter';

@ApiTags('notifications')
@Controller('v1/notifications')
// On the controller, so the 409 holds in whichever application serves it (INTERNAL_PORT or not).
@UseFilters(PublishConflictFilter)
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireToken(Scope.Publish)
  @ApiOperation({ summary: 'Publish a notification to rooms and users (needs scope notifications:publish)' })
  @ApiAcceptedResponse({ type: PublishResponseDto })
  @ApiBadRequestResponse({ type: HttpErrorDto, description: `A field is invalid (each is named), or no target or more than ${PUBLISH_TARGETS_MAX}` })
  @ApiConflictResponse({ type: HttpErrorDto, description: 'The id was used with a different body within the history window; nothing was delivered' })
  @ApiPayloadTooLargeResponse({ type: HttpErrorDto, description: 'Body larger than MAX_PUBLISH_BYTES (once inflated)' })
  @ApiUnsupportedMediaTypeResponse({ type: HttpErrorDto, description: 'The body is not JSON, or in a charset or Content-Encoding it does not read' })
  @ApiServiceUnavailableResponse({ type: HttpErrorDto, description: 'The message broker is unreachable' })
  publish(@Body() body: PublishNotificationDto): Promise<PublishResponse> {
    // The targets rule is the validation pipe's (PublishNotificationDto.bodyProblem).
    return this.notifications.publish(body);
  }
}
