import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

/** POST /demo/token: the claims of a development token. */
export class DemoTokenRequest {
  @IsString()
  @Matches(/^[A-Za-z0-9_.:@-]{1,128}$/, { message: 'sub must be 1..128 letters, digits or _.:@-' })
  sub!: string;

  /** Room patterns the token grants (`*` at the end is a wildcard); public:* needs none. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(/^[A-Za-z0-9_.:-]{0,127}[A-Za-z0-9_.:*-]$/, { each: true, message: 'each of rooms must be a room name or pattern' })
  rooms?: string[];

  /** Space-separated scopes, e.g. `notifications:publish` for the demo's "send a test" button. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  scope?: string;

  @IsOptional()
  @IsString()
  @MaxLength(100)
  name?: string;

  /** Lifetime in seconds. */
  @IsOptional()
  @IsInt()
  @Min(5)
  @Max(86_400)
  ttl?: number;
}

export interface DemoTokenResponse {
  token: string;
  expiresAt: string;
}
