import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsNotEmpty, IsString, Length, Matches } from 'class-validator';
import { NOTIFICATION_ID_MAX_CHARS, NOTIFICATION_TYPE_MAX_CHARS, PUBLISH_TARGETS_MAX, ROOM_NAME_PATTERN, USER_ID_PATTERN } from '@herald/client/protocol';
import { KeptAsSent } from '../../http/kept-as-sent.decorator';
import { hasPlainLength, isArrayOfMatching, isPlainObjectWithKeys } from '../../http/lean-validation.pipe';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';
import { ApiObjectSchema, ObjectSchemaRules, REFUSES_UNKNOWN_FIELDS } from '../../openapi/api-object-schema.decorator';
import { targetsProblemOfBody } from '../notification-targets';
import { IsPortableJsonObject, IsWellFormedUnicode, unportableJson } from '../../http/portable-json.decorator';

const FIELDS: ReadonlySet<string> = new Set(['rooms', 'users', 'type', 'payload', 'id']);

/**
 * Section 6's targets rule as a schema can say it: rooms or users, one of them not empty (the
 * total of at most PUBLISH_TARGETS_MAX across both is the validator's alone). Without it, a body
 * valid by the schema (`{type, payload}`) was refused 400.
 */
const NAMES_A_TARGET: ObjectSchemaRules = {
  anyOf: [
    { required: ['rooms'], properties: { rooms: { type: 'array', minItems: 1 } } },
    { required: ['users'], properties: { users: { type: 'array', minItems: 1 } } },
  ],
};

/** Body of POST /v1/notifications (section 6). Each failing field is named in the 400. */
@ApiObjectSchema({ ...REFUSES_UNKNOWN_FIELDS, ...NAMES_A_TARGET })
export class PublishNotificationDto {
  @ApiPropertyOptional({ type: 'array', items: { type: 'string', pattern: ROOM_NAME_PATTERN.source }, maxItems: PUBLISH_TARGETS_MAX, description: `Rooms to publish to; with users, at most ${PUBLISH_TARGETS_MAX} targets in all` })
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(PUBLISH_TARGETS_MAX)
  @Matches(ROOM_NAME_PATTERN, { each: true, message: `rooms must contain only room names matching ${ROOM_NAME_PATTERN.source}` })
  rooms?: string[];

  @ApiPropertyOptional({ type: 'array', items: { type: 'string', pattern: USER_ID_PATTERN.source }, maxItems: PUBLISH_TARGETS_MAX, description: 'Users whose personal rooms (user:<id>) and inboxes get the notification' })
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(PUBLISH_TARGETS_MAX)
  @Matches(USER_ID_PATTERN, { each: true, message: `users must contain only user ids matching ${USER_ID_PATTERN.source}` })
  users?: string[];

  @ApiProperty({ minLength: 1, maxLength: NOTIFICATION_TYPE_MAX_CHARS, example: 'invoice.paid' })
  @IsString()
  @Length(1, NOTIFICATION_TYPE_MAX_CHARS)
  @IsWellFormedUnicode()
  type!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { title: 'Paid', body: 'Invoice #7' }, description: 'Any JSON object, delivered and stored as sent; the widget shows payload.title and payload.body' })
  @KeptAsSent()
  @IsPortableJsonObject()
  payload!: Record<string, unknown>;

  @ApiPropertyOptional({ minLength: 1, maxLength: NOTIFICATION_ID_MAX_CHARS, description: 'Your id for the notification: a retry with the same id is delivered once' })
  @MayBeOmitted()
  @IsString()
  @IsNotEmpty()
  @Length(1, NOTIFICATION_ID_MAX_CHARS)
  @IsWellFormedUnicode()
  id?: string;

  /**
   * The decorators above, for bodies that certainly pass them (LeanValidationPipe): anything
   * else, including every body they would refuse, goes through ValidationPipe as before.
   */
  /** Section 6's targets rule (at least one, at most 1,000 in all): across rooms and users. */
  static bodyProblem(body: unknown): string | undefined {
    return targetsProblemOfBody(body);
  }

  static acceptIfPlainlyValid(body: unknown): PublishNotificationDto | undefined {
    if (!isPlainObjectWithKeys(body, FIELDS)) return undefined;
    const { rooms, users, type, payload, id } = body;
    if (rooms !== undefined && !isArrayOfMatching(rooms, PUBLISH_TARGETS_MAX, ROOM_NAME_PATTERN)) return undefined;
    if (users !== undefined && !isArrayOfMatching(users, PUBLISH_TARGETS_MAX, USER_ID_PATTERN)) return undefined;
    if (!hasPlainLength(type, 1, NOTIFICATION_TYPE_MAX_CHARS) || (id !== undefined && !hasPlainLength(id, 1, NOTIFICATION_ID_MAX_CHARS))) return undefined;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || unportableJson(payload, 'payload') !== undefined) return undefined;
    const dto = new PublishNotificationDto();
    // Only the fields sent, as class-transformer sets them: the others stay undefined.
    if ('rooms' in body) dto.rooms = rooms;
    if ('users' in body) dto.users = users;
    dto.type = type;
    dto.payload = payload as Record<string, unknown>;
    if ('id' in body) dto.id = id;
    return dto;
  }
}
