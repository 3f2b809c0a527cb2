import { PUBLIC_ROOM_PREFIX, isPersonalRoom, personalRoom } from '@herald/client/protocol';
import { Principal } from './principal';

/** Section 2 of the contract: who may join which room. */
export function mayJoin(principal: Principal, room: string): boolean {
  if (room === personalRoom(principal.user)) return true;
  if (isPersonalRoom(room)) return false;
  if (room.startsWith(PUBLIC_ROOM_PREFIX)) return true;
  return principal.roomPatterns.some((pattern) =>
    pattern.endsWith('*') ? room.startsWith(pattern.slice(0, -1)) : room === pattern,
  );
}

/** Only the HTTP publish API writes to personal rooms, so no client can forge a notification. */
export function mayChatIn(room: string): boolean {
  return !isPersonalRoom(room);
}
