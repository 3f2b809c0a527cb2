import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray } from 'class-validator';
import { PUBLISH_BATCH_MAX } from '@herald/client/protocol';
import { PublishNotificationDto } from './publish-notification.dto';

/**
 * Body of POST /v1/notifications/batch. Only the envelope is validated here (a bad envelope is
 * a 400 for the whole request); each notification is validated on its own by
 * PublishBatchItemValidator, so one bad item fails alone and the rest are still published.
 */
export class PublishBatchDto {
  @ApiProperty({ type: [PublishNotificationDto], minItems: 1, maxItems: PUBLISH_BATCH_MAX, description: 'Each validated on its own: a bad one fails alone' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(PUBLISH_BATCH_MAX)
  notifications!: unknown[];
}
