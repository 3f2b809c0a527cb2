import { IsString, MaxLength } from 'class-validator';
import { hasPlainLength, isPlainObjectWithKeys } from '../../http/lean-validation.pipe';
import { MayBeOmitted } from '../../http/may-be-omitted.decorator';

const FIELDS: ReadonlySet<string> = new Set(['room', 'since']);

export class JoinDto {
  @IsString()
  room!: string;

  /** May be left out; `null` is refused (IsOptional let it through to the broker: error internal). */
  @MayBeOmitted()
  @IsString()
  @MaxLength(64)
  since?: string;

  /** The decorators above, for frames that certainly pass them (LeanValidationPipe); ValidationPipe decides the rest. */
  static acceptIfPlainlyValid(data: unknown): JoinDto | undefined {
    if (!isPlainObjectWithKeys(data, FIELDS)) return undefined;
    const { room, since } = data;
    if (typeof room !== 'string' || (since !== undefined && !hasPlainLength(since, 0, 64))) return undefined;
    const dto = new JoinDto();
    dto.room = room;
    if ('since' in data) dto.since = since;
    return dto;
  }
}
