import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { hollowForValidation, manyUnknownFields, prototypeNamedKeys, stripProtoKeysOutsideKept, unknownFieldError } from '../http/lean-validation.pipe';
import { boundedMessage } from '../parsing/json-text-length';
import { typeFailureOnly } from '../parsing/type-failures';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { targetsProblemOfBody } from './notification-targets';

/** An item's failure, as a single publish of the same body would have answered it. */
export interface PublishBatchItemError {
  statusCode: number;
  message: string;
}

export type CheckedBatchItem = { ok: true; notification: PublishNotificationDto; targets: number } | { ok: false; error: PublishBatchItemError };

/**
 * Checks one notification of a batch with exactly the rules of a single publish (the same DTO,
 * the same target limits, MAX_PUBLISH_BYTES), naming the failing field by its path in the batch:
 * `notifications.3.type must be a string`.
 */
export class PublishBatchItemValidator {
  constructor(private readonly maxItemBytes: number) {}

  /**
   * `sentBytes`: the item's size in the request as sent, which a single publish of it would be
   * measured by; without it (a caller with no request body), its size as JSON.stringify writes it.
   */
  check(item: unknown, index: number, sentBytes?: number): CheckedBatchItem {
    const path = `notifications.${index}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return invalid(`${path} must be a JSON object`);
    // The same limit a single publish's body has: a batch is not a way around it.
    const bytes = sentBytes ?? Buffer.byteLength(JSON.stringify(item));
    if (bytes > this.maxItemBytes) {
      return { ok: false, error: { statusCode: 413, message: `${path} is ${bytes} bytes, over MAX_PUBLISH_BYTES (${this.maxItemBytes})` } };
    }
    // The single publish's short way first (a few typeof checks for a plainly valid body); any
    // doubt, and so every refusal, goes through class-validator and is worded by it.
    const plain = PublishNotificationDto.acceptIfPlainlyValid(item);
    // As for a single publish: thousands of unknown fields are refused in one pass, naming the first.
    const unknown = plain ? undefined : manyUnknownFields(item, PublishNotificationDto);
    if (unknown) return invalid(unknown.flatMap((error) => messagesOf(error, path)).join('; '));
    // Fields named after Object.prototype's members, which class-validator's whitelist misses,
    // worded as it words the other unknown fields.
    const unseen = prototypeNamedKeys(item);
    if (unseen.length > 0) return invalid(unseen.flatMap((key) => messagesOf(unknownFieldError(key), path)).join('; '));
    // As LeanValidationPipe prepares a single publish's body: its payload is left as sent.
    if (!plain) {
      hollowForValidation(item, PublishNotificationDto);
      stripProtoKeysOutsideKept(item, PublishNotificationDto);
    }
    const notification = plain ?? plainToInstance(PublishNotificationDto, item);
    // Told beside the fields' own failures, as a single publish's 400 lists it.
    const problem = targetsProblemOfBody(notification);
    const targets = problem === undefined ? [] : [`${path}: ${problem}`];
    if (!plain) {
      const errors = validateSync(notification, { whitelist: true, forbidNonWhitelisted: true });
      if (errors.length > 0) return invalid([...errors.flatMap((error) => messagesOf(error, path)), ...targets].join('; '));
    }
    if (problem) return invalid(targets[0]);
    return { ok: true, notification, targets: (notification.rooms?.length ?? 0) + (notification.users?.length ?? 0) };
  }
}

function invalid(message: string): CheckedBatchItem {
  return { ok: false, error: { statusCode: 400, message } };
}

/**
 * `notifications.3.type must be ...`, `notifications.3.payload.n is ...`; a message that does not
 * start with its field gets the field in front. Each bounded as a 400's lines are (boundedMessage).
 */
function messagesOf(error: ValidationError, path: string): string[] {
  return Object.values(typeFailureOnly(error.constraints ?? {})).map((message) =>
    boundedMessage(
      error.property === '' ? `${path}: ${message}` : message.startsWith(`${error.property} `) || message.startsWith(`${error.property}.`) ? `${path}.${message}` : `${path}.${error.property}: ${message}`,
    ),
  );
}
