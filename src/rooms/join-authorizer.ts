import { Principal } from '../auth/principal';

/**
 * Decides joins that the token's `rooms` claim does not grant (the join proxy of section 8).
 * RoomsService asks only for rooms this authorizer `covers`, and never for a room the claim
 * already grants.
 */
export abstract class JoinAuthorizer {
  abstract covers(room: string): boolean;

  /** Resolves when the join is allowed; rejects with a RoomError (`forbidden` or `unavailable`) otherwise. */
  abstract authorize(principal: Principal, room: string): Promise<void>;
}
