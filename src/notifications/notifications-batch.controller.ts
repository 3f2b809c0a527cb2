import { Body, Controller, HttpStatus, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { PublishBatchResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { Scope } from '../auth/principal';
import { PublishBatchDto } from './dto/publish-batch.dto';
import { NotificationsBatchService } from './notifications-batch.service';

@Controller('v1/notifications/batch')
export class NotificationsBatchController {
  constructor(private readonly batches: NotificationsBatchService) {}

  /** 200 when every notification was accepted, 207 (Multi-Status) when any was not. */
  @Post()
  @RequireToken(Scope.Publish)
  async publish(@Body() body: PublishBatchDto, @Res({ passthrough: true }) response: Response): Promise<PublishBatchResponse> {
    const result = await this.batches.publish(body.notifications);
    response.status(result.failed === 0 ? HttpStatus.OK : HttpStatus.MULTI_STATUS);
    return result;
  }
}
