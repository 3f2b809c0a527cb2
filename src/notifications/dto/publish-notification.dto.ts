import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsNotEmpty, IsObject, IsString, Length, Matches } from 'class-validator';
import { ROOM_NAME_PATTERN, USER_ID_PATTERN } from '@herald/client/protocol';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';

/** Body of POST /v1/notifications (section 6). Each failing field is named in the 400. */
export class PublishNotificationDto {
  @ApiPropertyOptional({ type: 'array', items: { type: 'string', pattern: ROOM_NAME_PATTERN.source }, maxItems: 1000, description: 'Rooms to publish to; with users, at most 1000 targets in all' })
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(1000)
  @Matches(ROOM_NAME_PATTERN, { each: true, message: `each value in rooms must be a room name matching ${ROOM_NAME_PATTERN.source}` })
  rooms?: string[];

  @ApiPropertyOptional({ type: 'array', items: { type: 'string', pattern: USER_ID_PATTERN.source }, maxItems: 1000, description: 'Users whose personal rooms (user:<id>) and inboxes get the notification' })
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(1000)
  @Matches(USER_ID_PATTERN, { each: true, message: `each value in users must be a user id matching ${USER_ID_PATTERN.source}` })
  users?: string[];

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'invoice.paid' })
  @IsString()
  @Length(1, 100)
  type!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { title: 'Paid', body: 'Invoice #7' }, description: 'Any JSON object; the widget shows payload.title and payload.body' })
  @IsObject({ message: 'payload must be a JSON object' })
  payload!: Record<string, unknown>;

  @ApiPropertyOptional({ minLength: 1, maxLength: 128, description: 'Your id for the notification: a retry with the same id is delivered once' })
  @MayBeOmitted()
  @IsString()
  @IsNotEmpty()
  @Length(1, 128)
  id?: string;
}
