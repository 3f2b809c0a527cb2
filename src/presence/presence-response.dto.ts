import { ApiProperty } from '@nestjs/swagger';
import type { PresenceResponse } from '@herald/client/protocol';

/** Answer of GET /v1/rooms/{room}/presence, for the OpenAPI document; `implements` keeps it in step with the wire type. */
export class PresenceResponseDto implements PresenceResponse {
  @ApiProperty()
  room!: string;

  @ApiProperty({ type: [String], description: 'Users with at least one connection in the room, across all pods' })
  users!: string[];

  @ApiProperty({ type: 'integer' })
  connections!: number;
}
