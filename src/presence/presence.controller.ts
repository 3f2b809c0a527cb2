import { BadRequestException, Controller, Get, Param, UseFilters } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { PresenceResponse, ROOM_NAME_PATTERN } from '@herald/client/protocol';
import { Scope } from '../auth/principal';
import { RequireToken } from '../auth/scopes.guard';
import { PresenceStore } from '../broker/presence.store';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { PresenceResponseDto } from './presence-response.dto';
import { PresenceUnavailableFilter } from './presence-unavailable.filter';

@ApiTags('presence')
@Controller('v1/rooms')
@UseFilters(PresenceUnavailableFilter)
export class PresenceController {
  constructor(private readonly store: PresenceStore) {}

  @Get(':room/presence')
  @RequireToken(Scope.PresenceRead)
  @ApiOperation({ summary: "A room's users and connection count across all pods (needs scope presence:read)" })
  @ApiOkResponse({ type: PresenceResponseDto })
  @ApiBadRequestResponse({ type: HttpErrorDto, description: 'Not a room name' })
  @ApiServiceUnavailableResponse({ type: HttpErrorDto, description: 'The message broker is unreachable' })
  async presence(@Param('room') room: string): Promise<PresenceResponse> {
    if (!ROOM_NAME_PATTERN.test(room)) throw new BadRequestException([`room must match ${ROOM_NAME_PATTERN.source}`]);
    const { users, connections } = await this.store.snapshot(room);
    return { room, users, connections };
  }
}
