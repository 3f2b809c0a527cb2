import { IsString, MaxLength } from 'class-validator';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';

export class JoinDto {
  @IsString()
  room!: string;

  /** May be left out; `null` is refused (IsOptional let it through to the broker: error internal). */
  @MayBeOmitted()
  @IsString()
  @MaxLength(64)
  since?: string;
}
