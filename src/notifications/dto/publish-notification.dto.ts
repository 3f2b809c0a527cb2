import { ArrayMaxSize, IsArray, IsNotEmpty, IsObject, IsString, Length, Matches } from 'class-validator';
import { ROOM_NAME_PATTERN, USER_ID_PATTERN } from '@herald/client/protocol';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';

/** Body of POST /v1/notifications (section 6). Each failing field is named in the 400. */
export class PublishNotificationDto {
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(1000)
  @Matches(ROOM_NAME_PATTERN, { each: true, message: `each value in rooms must be a room name matching ${ROOM_NAME_PATTERN.source}` })
  rooms?: string[];

  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(1000)
  @Matches(USER_ID_PATTERN, { each: true, message: `each value in users must be a user id matching ${USER_ID_PATTERN.source}` })
  users?: string[];

  @IsString()
  @Length(1, 100)
  type!: string;

  @IsObject({ message: 'payload must be a JSON object' })
  payload!: Record<string, unknown>;

  @MayBeOmitted()
  @IsString()
  @IsNotEmpty()
  @Length(1, 128)
  id?: string;
}
