import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { USER_ID_PATTERN } from '@herald/client/protocol';
import { DISPLAY_NAME_MAX_CHARS } from '../auth/token.verifier';
import { MayBeOmitted } from '../http/may-be-omitted.decorator';
import { ApiObjectSchema, REFUSES_UNKNOWN_FIELDS } from '../openapi/api-object-schema.decorator';

/** POST /demo/token: the claims of a development token. */
@ApiObjectSchema(REFUSES_UNKNOWN_FIELDS)
export class DemoTokenRequest {
  @ApiProperty({ pattern: USER_ID_PATTERN.source })
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'sub must be 1..123 letters, digits or _.:- (it names the room user:<sub>)' })
  sub!: string;

  /** Room patterns the token grants (`*` at the end is a wildcard); public:* needs none. */
  @ApiPropertyOptional({ type: 'array', items: { type: 'string' }, maxItems: 50 })
  @MayBeOmitted()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(/^[A-Za-z0-9_.:-]{0,127}[A-Za-z0-9_.:*-]$/, { each: true, message: 'rooms must contain only room names or patterns (a * at the end)' })
  rooms?: string[];

  /** Space-separated scopes, e.g. `notifications:publish` for the demo's "send a test" button. */
  @ApiPropertyOptional({ maxLength: 200, example: 'notifications:publish' })
  @MayBeOmitted()
  @IsString()
  @MaxLength(200)
  scope?: string;

  @ApiPropertyOptional({ maxLength: DISPLAY_NAME_MAX_CHARS })
  @MayBeOmitted()
  @IsString()
  @MaxLength(DISPLAY_NAME_MAX_CHARS)
  name?: string;

  /** Lifetime in seconds. */
  @ApiPropertyOptional({ type: 'integer', minimum: 5, maximum: 86_400, description: 'Lifetime in seconds' })
  @MayBeOmitted()
  @IsInt()
  @Min(5)
  @Max(86_400)
  ttl?: number;
}

export class DemoTokenResponse {
  @ApiProperty()
  token!: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt!: string;
}
