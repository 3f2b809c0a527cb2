import { ApiProperty } from '@nestjs/swagger';
import type { PublishResponse } from '@herald/client/protocol';

/** 202 of POST /v1/notifications, for the OpenAPI document; `implements` keeps it in step with the wire type. */
export class PublishResponseDto implements PublishResponse {
  @ApiProperty({ description: 'The notification id (yours, or a generated UUID)' })
  id!: string;

  @ApiProperty({ type: 'integer', description: 'Rooms it was published to' })
  targets!: number;
}
