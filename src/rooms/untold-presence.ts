import { PresenceStatus } from '@herald/client/protocol';
import type { PresenceStore, UnheardPresence } from '../broker/presence.store';

/** How tellWhatHolds names what it told: a room and a user. */
export function toldKey(room: string, user: string): string {
  return `${room}\n${user}`;
}

/** Which of some users the presence store counts in a room, and how many users it counts there. */
export interface PresentAmong {
  users: number;
  present: ReadonlySet<string>;
}

/** The most users one presence read asks about: thousands who left during an outage are several reads, each bounded. */
const USERS_ASKED_AT_ONCE = 1000;

/** Which of `users` are in the room (PresenceStore.present), or undefined when it cannot be read now. */
export async function presentAmong(presence: PresenceStore, room: string, users: Iterable<string>): Promise<PresentAmong | undefined> {
  const asked = [...users];
  const present = new Set<string>();
  let from = 0;
  try {
    // At least one read: it counts the room's users even when nobody is asked about.
    let answer;
    do {
      answer = await presence.present(room, asked.slice(from, from + USERS_ASKED_AT_ONCE));
      from += USERS_ASKED_AT_ONCE;
      for (const user of answer.present) present.add(user);
    } while (from < asked.length);
    return { users: answer.users, present };
  } catch {
    return undefined;
  }
}

/** What the room heard since `sinceMs` (PresenceStore.unheard), or undefined when it cannot be read now. */
export function readUnheard(presence: PresenceStore, room: string, sinceMs: number, maxUsers: number): Promise<UnheardPresence | undefined> {
  return presence.unheard(room, sinceMs, maxUsers).catch(() => undefined);
}

/**
 * Whether `user` having `status` still holds in the room (a `joined` user is there, a `left` one
 * is not; `room` was asked about that user), as the room's distinct users counting that one (a
 * PresenceTeller's last argument); undefined when it no longer holds.
 */
export function usersIfStillHolds(room: PresentAmong, user: string, status: PresenceStatus): number | undefined {
  if (room.present.has(user) !== (status === 'joined')) return undefined;
  return status === 'joined' ? room.users : room.users + 1;
}

/** Tells a room's other users that `user` joined or left (RoomsService.tellRoom). */
export type PresenceTeller = (room: string, user: string, status: PresenceStatus, usersIncludingThisOne: number) => Promise<void> | undefined;

/** How many rooms' presence tellWhatHolds reads at once. */
const ROOMS_READ_AT_ONCE = 8;

/**
 * Joins and leaves whose presence change failed (the store unreachable: Redis down), told once
 * the store answers again if they still hold. Without this, a user who left or disconnected
 * during an outage stayed in the other users' member lists: the store itself converges (this
 * pod's entries are registered again, a dead one's expire), but nobody was told. By room and
 * user, the latest status only: a user who left, came back and left again is one `left`.
 */
export class UntoldPresence {
  private readonly untold = new Map<string, Map<string, PresenceStatus>>();

  constructor(
    private readonly presence: PresenceStore,
    private readonly tell: PresenceTeller,
  ) {}

  /** Whether any change waits to be told. */
  get empty(): boolean {
    return this.untold.size === 0;
  }

  remember(room: string, user: string, status: PresenceStatus): void {
    let users = this.untold.get(room);
    if (!users) this.untold.set(room, (users = new Map()));
    users.set(user, status);
  }

  /**
   * Tells what still holds, one presence read per room: a `left` whose user is still absent, a
   * `joined` whose user is still there. What cannot be read now is kept for the next time. With
   * `only`, tells changes of that status and keeps the others: right after an outage, a `left`
   * waits until every live pod has registered its entries again, or a user whose only entries
   * are another pod's, not registered yet, would be told gone.
   */
  async tellWhatHolds(only?: PresenceStatus): Promise<Set<string>> {
    const told = new Set<string>();
    const rooms = [...this.untold];
    this.untold.clear();
    // A few rooms at a time: on a Redis Cluster with a shard still silent, each of its rooms' reads
    // waits out the command deadline, and one after another they held the rest for minutes.
    let next = 0;
    const reader = async () => {
      while (next < rooms.length) {
        const [room, all] = rooms[next++];
        await this.tellRoom(room, all, only, told);
      }
    };
    await Promise.all(Array.from({ length: Math.min(ROOMS_READ_AT_ONCE, rooms.length) }, reader));
    return told;
  }

  private async tellRoom(room: string, all: Map<string, PresenceStatus>, only: PresenceStatus | undefined, told: Set<string>): Promise<void> {
    let users = all;
    if (only !== undefined) {
      users = new Map([...all].filter(([, status]) => status === only));
      for (const [user, status] of all) if (status !== only) this.remember(room, user, status);
      if (users.size === 0) return;
    }
    const present = await presentAmong(this.presence, room, users.keys());
    if (!present) {
      for (const [user, status] of users) this.keep(room, user, status);
      return;
    }
    for (const [user, status] of users) {
      const usersIncludingThisOne = usersIfStillHolds(present, user, status);
      if (usersIncludingThisOne === undefined) continue;
      try {
        await this.tell(room, user, status, usersIncludingThisOne);
        told.add(toldKey(room, user));
      } catch {
        this.keep(room, user, status);
      }
    }
  }

  /** Remembers again what could not be told now, unless a newer change was remembered meanwhile. */
  private keep(room: string, user: string, status: PresenceStatus): void {
    if (!this.untold.get(room)?.has(user)) this.remember(room, user, status);
  }
}
