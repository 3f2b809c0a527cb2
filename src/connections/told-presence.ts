import { PresenceStatus } from '@herald/client/protocol';

/** How many of the latest `left`s told here are kept with their time, for watchLefts(sinceMs). */
const RECENT_LEFTS = 1024;

/**
 * Who this pod's members of each room were told is there: the subjects of the `presence`
 * frames delivered here (a `joined` adds its user, a `left` removes it), for rooms with a member
 * here. Kept so that a pod can correct what it told after an outage (RoomsService): a user told
 * `joined` whom the presence store no longer counts left while nobody here heard it, because
 * its `left` was sent before this pod had subscribed again, or because Redis lost the entries
 * of a pod that died meanwhile, which then never expire to be announced.
 *
 * Presence frames only go to rooms of at most PRESENCE_EVENTS_MAX_USERS users, so a room holds
 * at most that many names here, and a room is forgotten when its last member here leaves; the
 * latest `left`s are kept apart, RECENT_LEFTS of them at most.
 */
export class ToldPresence {
  private readonly usersByRoom = new Map<string, Set<string>>();
  /**
   * While watched (watchLefts): the users each room's members here were told `left` since. After
   * an outage long enough for entries to expire, a pod that resynced first finds the users of
   * pods not registered again yet gone, and tells so; the look two heartbeats later (every live
   * pod registered again) tells `joined` for those still there.
   */
  private leftByRoom: Map<string, Set<string>> | undefined;
  /**
   * The latest `left`s told here, with when (a ring of RECENT_LEFTS): the look after an outage
   * asks the store who left from a little before the loss was noticed (RoomsService), and a
   * `left` told here in that moment, before the watch began, was told a second time.
   */
  private readonly recentLefts: Array<{ room: string; user: string; atMs: number }> = [];
  private nextRecentLeft = 0;

  /** A presence frame about `user` was delivered to the room's members here. */
  record(room: string, user: string, frame: string): void {
    const status = presenceStatusOf(frame);
    if (status === 'joined') {
      let users = this.usersByRoom.get(room);
      if (!users) this.usersByRoom.set(room, (users = new Set()));
      users.add(user);
      this.leftByRoom?.get(room)?.delete(user);
    } else if (status === 'left') {
      this.forgetUser(room, user);
      this.recentLefts[this.nextRecentLeft] = { room, user, atMs: Date.now() };
      this.nextRecentLeft = (this.nextRecentLeft + 1) % RECENT_LEFTS;
      if (this.leftByRoom) this.watchedLeft(this.leftByRoom, room, user);
    }
  }

  /**
   * From now on, remembers who is told `left` (kept across calls until unwatchLefts); a watch that
   * begins now also counts the `left`s told here since `sinceMs`, when given, unless told
   * `joined` since.
   */
  watchLefts(sinceMs?: number): void {
    if (this.leftByRoom) return;
    this.leftByRoom = new Map();
    if (sinceMs === undefined) return;
    for (const { room, user, atMs } of this.recentLefts) {
      if (atMs >= sinceMs && !this.toldJoined(room, user)) this.watchedLeft(this.leftByRoom, room, user);
    }
  }

  private watchedLeft(leftByRoom: Map<string, Set<string>>, room: string, user: string): void {
    let left = leftByRoom.get(room);
    if (!left) leftByRoom.set(room, (left = new Set()));
    left.add(user);
  }

  /** Each room with the users told `left` since watchLefts (none when not watched). */
  lefts(): [string, string[]][] {
    return [...(this.leftByRoom ?? [])].map(([room, users]): [string, string[]] => [room, [...users]]);
  }

  /** Stops watching, and forgets who was told `left`. */
  unwatchLefts(): void {
    this.leftByRoom = undefined;
  }

  /** The room has no member here any more: nobody here holds what it was told. */
  forget(room: string): void {
    this.usersByRoom.delete(room);
    this.leftByRoom?.delete(room);
  }

  forgetUser(room: string, user: string): void {
    const users = this.usersByRoom.get(room);
    if (users?.delete(user) && users.size === 0) this.usersByRoom.delete(room);
  }

  /** Whether the room's members here were told `user` left since watchLefts (false when not watched). */
  toldLeft(room: string, user: string): boolean {
    return this.leftByRoom?.get(room)?.has(user) ?? false;
  }

  /** Whether the room's members here were last told `user` joined. */
  toldJoined(room: string, user: string): boolean {
    return this.usersByRoom.get(room)?.has(user) ?? false;
  }

  /** Each room with the users its members here were last told joined (a copy: safe across awaits). */
  snapshot(): [string, string[]][] {
    return [...this.usersByRoom].map(([room, users]) => [room, [...users]]);
  }

  get rooms(): number {
    return this.usersByRoom.size;
  }
}

/** The status of a `presence` frame (serverFrame's JSON), or undefined for any other frame. */
function presenceStatusOf(frame: string): PresenceStatus | undefined {
  try {
    const parsed = JSON.parse(frame) as { event?: unknown; data?: { status?: unknown } };
    if (parsed.event !== 'presence') return undefined;
    const status = parsed.data?.status;
    return status === 'joined' || status === 'left' ? status : undefined;
  } catch {
    return undefined;
  }
}
