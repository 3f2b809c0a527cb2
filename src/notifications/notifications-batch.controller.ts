import { Body, Controller, HttpStatus, Post, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiPayloadTooLargeResponse, ApiResponse, ApiServiceUnavailableResponse, ApiTags, ApiUnsupportedMediaTypeResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PublishBatchResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { RETRY_AFTER_S } from '../broker/broker-unavailable.filter';
import { Scope } from '../auth/principal';
import { listItemBytesOf } from '../http/json-body.parser';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { PublishBatchDto } from './dto/publish-batch.dto';
import { PublishBatchResponseDto } from './dto/publish-batch-response.dto';
import { NotificationsBatchService } from './notifications-batch.service';

@ApiTags('notifications')
@Controller('v1/notifications/batch')
export class NotificationsBatchController {
  constructor(private readonly batches: NotificationsBatchService) {}

  /**
   * 200 when every notification was accepted, 207 (Multi-Status) when any was not; a 207 with an
   * item answered 503 says when to retry as a 503 does, for a publisher that reads headers only.
   */
  @Post()
  @RequireToken(Scope.Publish)
  @ApiOperation({ summary: 'Publish many notifications, each with its own targets, in one request (needs scope notifications:publish)' })
  @ApiOkResponse({ type: PublishBatchResponseDto, description: 'Every notification was accepted' })
  @ApiResponse({ status: 207, type: PublishBatchResponseDto, description: 'Some were not: their results carry the error (with Retry-After: 2 when any answered 503)' })
  @ApiBadRequestResponse({ type: HttpErrorDto, description: 'The envelope is invalid (no list, empty, or too long)' })
  @ApiPayloadTooLargeResponse({ type: HttpErrorDto, description: 'Body larger than MAX_BATCH_PUBLISH_BYTES (once inflated)' })
  @ApiUnsupportedMediaTypeResponse({ type: HttpErrorDto, description: 'The body is not JSON, or in a charset or Content-Encoding it does not read' })
  @ApiServiceUnavailableResponse({ type: HttpErrorDto, description: 'The message broker is unreachable before the first notification: none was published' })
  async publish(@Body() body: PublishBatchDto, @Req() request: FastifyRequest, @Res({ passthrough: true }) response: FastifyReply): Promise<PublishBatchResponse> {
    const result = await this.batches.publish(body.notifications, listItemBytesOf(request.raw));
    response.code(result.failed === 0 ? HttpStatus.OK : HttpStatus.MULTI_STATUS);
    if (result.results.some((item) => 'error' in item && item.error.statusCode === HttpStatus.SERVICE_UNAVAILABLE)) response.header('retry-after', RETRY_AFTER_S);
    return result;
  }
}
