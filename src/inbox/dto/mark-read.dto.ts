import { ApiPropertyOptional } from '@nestjs/swagger';
import { Equals, length, registerDecorator, ValidateIf } from 'class-validator';
import { INBOX_READ_IDS_MAX, NOTIFICATION_ID_MAX_CHARS } from '@herald/client/protocol';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';
import { ApiObjectSchema, REFUSES_UNKNOWN_FIELDS } from '../../openapi/api-object-schema.decorator';

const NOT_A_LIST = 'ids must be a non-empty list of notification ids (or send {"all": true})';

/**
 * What is wrong with `ids`, in one message, or undefined: a missing or malformed list got every
 * rule's message at once (four, about lengths and counts it never reached).
 */
function idListProblem(ids: unknown): string | undefined {
  if (!Array.isArray(ids) || ids.length === 0) return NOT_A_LIST;
  if (ids.length > INBOX_READ_IDS_MAX) return `ids must hold at most ${INBOX_READ_IDS_MAX} ids (or send {"all": true})`;
  if (!ids.every((id) => typeof id === 'string')) return 'ids must contain only strings';
  // Counted as the publish's @Length counts an id (a surrogate pair is one character), so every
  // id a publish accepted can be marked read.
  if (ids.some((id: string) => !length(id, 0, NOTIFICATION_ID_MAX_CHARS))) return `ids must contain only strings of at most ${NOTIFICATION_ID_MAX_CHARS} characters`;
  if (!ids.every((id: string) => id.isWellFormed())) return 'ids must contain only strings that are well-formed Unicode (no lone surrogates)';
  return undefined;
}

function IsNotificationIdList(): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isNotificationIdList',
      target: target.constructor,
      propertyName: property as string,
      validator: {
        validate: (value: unknown) => idListProblem(value) === undefined,
        defaultMessage: (args) => idListProblem(args?.value) ?? NOT_A_LIST,
      },
    });
}

/** Body of POST /v1/inbox/read: `{"ids": [...]}` or `{"all": true}`, never both (the controller refuses both). */
@ApiObjectSchema({ ...REFUSES_UNKNOWN_FIELDS, oneOf: [{ required: ['ids'] }, { required: ['all'] }] })
export class MarkReadDto {
  @ApiPropertyOptional({ type: 'array', items: { type: 'string', maxLength: NOTIFICATION_ID_MAX_CHARS }, minItems: 1, maxItems: INBOX_READ_IDS_MAX, description: 'Ids to mark read (ids not in the inbox are ignored); send this or all. The body must fit MAX_PUBLISH_BYTES (64 KiB by default: about 450 ids of 128 characters)' })
  @ValidateIf((body: MarkReadDto) => body.all === undefined)
  @IsNotificationIdList()
  ids?: string[];

  @ApiPropertyOptional({ type: 'boolean', enum: [true], description: 'Mark everything read' })
  @MayBeOmitted()
  @Equals(true, { message: 'all must be true' })
  all?: true;
}
