import { ArrayMaxSize, ArrayMinSize, IsArray } from 'class-validator';
import { PUBLISH_BATCH_MAX } from '@herald/client/protocol';

/**
 * Body of POST /v1/notifications/batch. Only the envelope is validated here (a bad envelope is
 * a 400 for the whole request); each notification is validated on its own by
 * PublishBatchItemValidator, so one bad item fails alone and the rest are still published.
 */
export class PublishBatchDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(PUBLISH_BATCH_MAX)
  notifications!: unknown[];
}
