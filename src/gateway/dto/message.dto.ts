import { IsString, Length } from 'class-validator';
import { MESSAGE_TEXT_MAX_CHARS } from '@herald/client/protocol';

export class MessageDto {
  @IsString()
  room!: string;

  @IsString()
  @Length(1, MESSAGE_TEXT_MAX_CHARS)
  text!: string;
}
