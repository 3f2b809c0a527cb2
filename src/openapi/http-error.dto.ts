import { ApiProperty } from '@nestjs/swagger';
import type { HttpErrorBody } from '@herald/client/protocol';

/** Every 4xx/5xx body of the HTTP API (Nest's standard shape); a 400 lists each failing field in `message`. */
export class HttpErrorDto implements HttpErrorBody {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode!: number;

  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], example: ['type must be longer than or equal to 1 characters'] })
  message!: string | string[];

  /** The status's name; every error body carries it (section 6). */
  @ApiProperty({ example: 'Bad Request' })
  error!: string;
}
