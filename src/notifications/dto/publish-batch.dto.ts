import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray } from 'class-validator';
import { PUBLISH_BATCH_MAX } from '@herald/client/protocol';
import { isPlainJsonTree, isPlainObjectWithKeys, prototypeNamedKeys } from '../../http/lean-validation.pipe';
import { PublishNotificationDto } from './publish-notification.dto';

const FIELDS: ReadonlySet<string> = new Set(['notifications']);

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

  /**
   * The envelope ValidationPipe would accept, without it (LeanValidationPipe): an object with a
   * list of 1 to PUBLISH_BATCH_MAX notifications, plain JSON all the way down and with no field
   * ValidationPipe deletes or the lean pipe refuses by name. ValidationPipe would otherwise copy
   * every notification and payload with class-transformer and walk them for keys to strip, which
   * cost more per notification than validating it. Anything else goes to ValidationPipe.
   */
  static acceptIfPlainlyValid(body: unknown): PublishBatchDto | undefined {
    if (!isPlainObjectWithKeys(body, FIELDS)) return undefined;
    const { notifications } = body;
    if (!Array.isArray(notifications) || notifications.length < 1 || notifications.length > PUBLISH_BATCH_MAX) return undefined;
    if (!isPlainJsonTree(notifications) || prototypeNamedKeys(body).length > 0) return undefined;
    const dto = new PublishBatchDto();
    dto.notifications = notifications;
    return dto;
  }
}
