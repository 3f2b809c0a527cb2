import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray } from 'class-validator';
import { PUBLISH_BATCH_MAX } from '@herald/client/protocol';
import { KeptAsSent } from '../../http/kept-as-sent.decorator';
import { isPlainObjectWithKeys, prototypeNamedKeys } from '../../http/lean-validation.pipe';
import { ApiObjectSchema, REFUSES_UNKNOWN_FIELDS } from '../../openapi/api-object-schema.decorator';
import { PublishNotificationDto } from './publish-notification.dto';

const FIELDS: ReadonlySet<string> = new Set(['notifications']);

/**
 * Body of POST /v1/notifications/batch. Only the envelope is validated here (a bad envelope is
 * a 400 for the whole request); each notification is validated on its own by
 * PublishBatchItemValidator, so one bad item fails alone and the rest are still published.
 */
@ApiObjectSchema(REFUSES_UNKNOWN_FIELDS)
export class PublishBatchDto {
  @ApiProperty({ type: [PublishNotificationDto], minItems: 1, maxItems: PUBLISH_BATCH_MAX, description: 'Each validated on its own: a bad one fails alone' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(PUBLISH_BATCH_MAX)
  // Handed to PublishBatchItemValidator as sent: each payload must reach it whole.
  @KeptAsSent()
  notifications!: unknown[];

  /**
   * The envelope ValidationPipe would accept, without it (LeanValidationPipe): an object with a
   * list of 1 to PUBLISH_BATCH_MAX notifications, none with a field the lean pipe refuses by
   * name. The notifications are kept as sent either way. Anything else goes to ValidationPipe.
   */
  static acceptIfPlainlyValid(body: unknown): PublishBatchDto | undefined {
    if (!isPlainObjectWithKeys(body, FIELDS)) return undefined;
    const { notifications } = body;
    if (!Array.isArray(notifications) || notifications.length < 1 || notifications.length > PUBLISH_BATCH_MAX) return undefined;
    if (prototypeNamedKeys(body).length > 0) return undefined;
    const dto = new PublishBatchDto();
    dto.notifications = notifications;
    return dto;
  }
}
