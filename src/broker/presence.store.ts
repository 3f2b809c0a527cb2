import { serverFrame } from '../connections/server-frame';
/**
 * Asks a store to tell the room's other users of a change it makes (section 2's `presence`):
 * when the user's first connection arrives or last one leaves, and the room has at most
 * `maxUsers` distinct users (the leaving one counted), the store broadcasts the presence frame
 * (presenceFrame) to the room, sparing the user's own connections, in the same step as the
 * change. So every pod hears a room's presence in the order the store made its changes: told
 * after the change, as a step of its own, a user moving between pods had a `left` from one pod
 * overtake the `joined` from the other, and members kept the user as gone for good.
 */
export interface PresenceAnnouncement {
  /** PRESENCE_EVENTS_MAX_USERS. */
  maxUsers: number;
}

/** The `presence` frame about `user` (section 2); the Redis store's script writes the same bytes. */
export function presenceFrame(room: string, user: string, status: 'joined' | 'left', timestamp: string): string {
  return serverFrame('presence', { room, user, status, timestamp });
}

/**
 * The frame a room is told of a change, stamped now, or undefined in a room too big for
 * presence events: more than `maxUsers` distinct users, the leaving one counted (section 2).
 */
export function announcedFrame(announce: PresenceAnnouncement, room: string, user: string, status: 'joined' | 'left', usersIncludingThisOne: number): string | undefined {
  return usersIncludingThisOne > announce.maxUsers ? undefined : presenceFrame(room, user, status, new Date().toISOString());
}

/**
 * Who is in which room, cluster-wide (centrifuge's PresenceManager). Entries are per
 * connection (a store may keep personal rooms' as counts: enterPersonal); counts are per
 * distinct user.
 *
 * Contract every implementation keeps (test/broker/presence-store.contract.ts runs against each):
 * - `add` and `remove` say whether the user's first connection arrived or its last one left,
 *   and how many distinct users the room has after the change, whichever pod made the others;
 *   with an announcement they tell the room in the same step (PresenceAnnouncement).
 * - Adding a connection twice, or removing an unknown one, changes nothing.
 * - A pod that dies without removing its entries loses them within a bounded time; the users
 *   whose last connection went that way are told once, cluster-wide, through `onExpired`.
 * - A pod that closes removes its entries at once.
 */
export abstract class PresenceStore {
  /** Records one connection of a user in a room (and tells the room, with `announce`); not a personal room (enterPersonal). */
  abstract add(room: string, user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange>;
  /** Forgets one connection of a user in a room (and tells the room, with `announce`). */
  abstract remove(room: string, user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange>;
  /**
   * Counts a connection of `user` in its personal room `room` (`user:<user>`), for the presence
   * API only (section 6 counts every room): nobody is told, since the room's only member is its
   * user, and nothing is answered. The store records it within REDIS_BATCH_WINDOW_MS, in a form
   * of its own (per pod and user on Redis: see PersonalPresence), and keeps it through outages as
   * it keeps other entries. Counting a connection twice, or forgetting an unknown one, changes nothing.
   */
  abstract enterPersonal(room: string, user: string, connectionId: string): void;
  abstract leavePersonal(room: string, user: string, connectionId: string): void;
  /** Who is in the room across pods; for a personal room, what enterPersonal counted. */
  abstract snapshot(room: string): Promise<PresenceSnapshot>;
  /**
   * Which of `users` are in the room (not a personal room), and how many distinct users it has:
   * what the look at presence changes an outage kept asks of each room, without reading the
   * whole room (a crowded one's user list, on every pod after every outage).
   */
  abstract present(room: string, users: readonly string[]): Promise<PresentUsers>;
  /**
   * What a pod that could not hear `room` (not a personal room) since `sinceMs` missed of it:
   * which users there the room was told `joined` at or after that time, and who left it since
   * (UnheardPresence). `sinceMs` is this pod's clock; a store that keeps its own times asks with
   * the age it makes, so the two clocks need not agree. The lists are empty for a room of more
   * than `maxUsers` users: nobody is told of its users (PRESENCE_EVENTS_MAX_USERS), and reading
   * them meant reading a crowded room's whole presence on every pod after every outage.
   */
  abstract unheard(room: string, sinceMs: number, maxUsers: number): Promise<UnheardPresence>;
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

/** PresenceStore.present: of the users asked, those in the room. */
export interface PresentUsers {
  /** Distinct users in the room now. */
  users: number;
  /** Those of the users asked who are in the room. */
  present: string[];
}

/** PresenceStore.unheard: what the room heard since a time. */
export interface UnheardPresence {
  /** Distinct users in the room now. */
  users: number;
  /**
   * The users there whose arrival was announced to the room since then. A pod cut off from the
   * store meanwhile heard none of those frames, and cannot tell such a user from one who was
   * there before its members joined (nobody here was told of either). Empty from a store whose
   * pods are never cut off from it (the embedded one).
   */
  joinsToldSince: string[];
  /**
   * The users not there whose departure (a `left` told, or entries that expired) the room heard
   * since then. A pod that could not hear the room meanwhile missed their `left`, and its
   * members may never have been told those users `joined` (they were there first), so nothing
   * else tells them. Empty from the embedded store, as above.
   */
  departedSince: string[];
}
