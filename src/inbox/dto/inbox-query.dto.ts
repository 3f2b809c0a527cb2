import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { INBOX_LIMIT_DEFAULT, INBOX_LIMIT_MAX } from '@herald/client/protocol';
import { SEQ_PATTERN } from '../../broker/seq';

/** Query of GET /v1/inbox (section 6). */
export class InboxQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: INBOX_LIMIT_MAX, default: INBOX_LIMIT_DEFAULT })
  @IsOptional()
  // Decimal digits only: Number() would also take '0x10', '1e1', ' 5 ' and '0b11'.
  @Transform(({ value }) => (typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN))
  @IsInt({ message: 'limit must be an integer from 1 to 100' })
  @Min(1, { message: 'limit must be an integer from 1 to 100' })
  @Max(INBOX_LIMIT_MAX, { message: 'limit must be an integer from 1 to 100' })
  limit?: number;

  /** A `seq` from an earlier page's `next` (or any item's `seq`). */
  @ApiPropertyOptional({ description: "The page's next, for the page after it" })
  @IsOptional()
  @IsString()
  @Matches(SEQ_PATTERN, { message: 'before must be a seq from an earlier page (its next)' })
  before?: string;
}
