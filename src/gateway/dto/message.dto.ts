import { IsString, Length } from 'class-validator';
import { MESSAGE_TEXT_MAX_CHARS } from '@herald/client/protocol';
import { IsWellFormedUnicode } from '../../http/portable-json.decorator';

export class MessageDto {
  @IsString()
  room!: string;

  // As a published payload's strings are: a lone surrogate is relayed as a `\udc00` escape that
  // decoders refuse (Rust's serde_json) or turn into U+FFFD (Go's) for every member.
  @IsString()
  @Length(1, MESSAGE_TEXT_MAX_CHARS)
  @IsWellFormedUnicode()
  text!: string;
}
