/**
 * Who is in which room, cluster-wide (centrifuge's PresenceManager). Entries are per
 * connection; counts are per distinct user.
 *
 * Contract every implementation keeps (test/broker/presence-store.contract.ts runs against each):
 * - `add` and `remove` say whether the user's first connection arrived or its last one left,
 *   and how many distinct users the room has after the change, whichever pod made the others.
 * - Adding a connection twice, or removing an unknown one, changes nothing.
 * - A pod that dies without removing its entries loses them within a bounded time; the users
 *   whose last connection went that way are told once, cluster-wide, through `onExpired`.
 * - A pod that closes removes its entries at once.
 */
export abstract class PresenceStore {
  /** Records one connection of a user in a room. */
  abstract add(room: string, user: string, connectionId: string): Promise<PresenceChange>;
  /** Forgets one connection of a user in a room. */
  abstract remove(room: string, user: string, connectionId: string): Promise<PresenceChange>;
  abstract snapshot(room: string): Promise<PresenceSnapshot>;
  /**
   * Registers the listener told when a user's last connection in a room vanished without a
   * remove: its pod died and the entry expired. Called once cluster-wide per such user, on
   * whichever pod noticed; `users` counts the room's distinct users afterwards.
   */
  abstract onExpired(listener: PresenceExpiredListener): void;
  /** Entries this pod added and has not removed (leak checks). */
  abstract get localEntries(): number;
}

export interface PresenceChange {
  /** For add: this was the user's first connection in the room; for remove: its last. */
  userChanged: boolean;
  /** Distinct users in the room after the change. */
  users: number;
}

export type PresenceExpiredListener = (room: string, user: string, users: number) => void;

export interface PresenceSnapshot {
  users: string[];
  connections: number;
}
