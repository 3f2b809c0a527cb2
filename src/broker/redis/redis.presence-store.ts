import { Logger } from '@nestjs/common';
import { PERSONAL_ROOM_PREFIX, isPersonalRoom } from '@herald/client/protocol';
import { BrokerUnavailableError } from '../broker';
import { PresenceAnnouncement, PresenceChange, PresenceExpiredListener, PresenceSnapshot, PresenceStore, PresentUsers, UnheardPresence } from '../presence.store';
import { ExpiredPresence, PresenceEntryChange, PresenceKeys, PresenceTelling } from './presence.scripts';
import type { BatchWindow } from './batch-window';
import { describeError } from './redis.client';
import { RedisCommands, RedisConnection } from './redis.connection';
import { PersonalPresence } from './personal-presence';
import { RedisKeys } from './redis-keys';
import { sliceGapMs } from './slice-gap';

/**
 * Presence entries per script (refresh, changes, close). A room's entries go in slices so that Redis,
 * which runs one script at a time, serves the publishes queued meanwhile between slices instead
 * of after all of a big room's entries (a latency spike every refresh otherwise).
 */
export const PRESENCE_ENTRIES_PER_SCRIPT = 500;

export interface RedisPresenceOptions {
  /** A presence entry not refreshed for this long belongs to a dead pod and is forgotten. */
  presenceTtlMs: number;
  /** How often this pod refreshes its own presence entries; well under presenceTtlMs. */
  presenceRefreshMs: number;
  /**
   * PRESENCE_EVENTS_MAX_USERS: rooms with more users get no presence events, so the order of
   * their joins' adds matters to no one, and those adds can wait for the batch window (see add).
   */
  presenceEventsMaxUsers?: number;
}

/**
 * A room whose last change left more than this many times PRESENCE_EVENTS_MAX_USERS users is
 * crowded: far enough past the limit that the joins waiting for one window cannot bring it back
 * under before their answers say so.
 */
const CROWDED_FACTOR = 2;

/** An add or remove waiting for its turn's script (see RedisPresenceStore.add). */
type PendingChange = PresenceEntryChange & {
  resolve: (change: PresenceChange) => void;
  reject: (error: unknown) => void;
};

/** A room's changes waiting to be sent, and whether an add has scheduled their send for this turn's end. */
interface PendingBatch {
  readonly changes: PendingChange[];
  addScheduled: boolean;
}

/**
 * Presence on Redis: per room, entries per connection that expire unless refreshed. This pod
 * remembers its own entries, refreshes them on a timer and registers them all again on every
 * resync of the connection (a Redis that restarted has none). Whichever script finds a dead
 * pod's entries expired reports their users once, through onExpired. Personal rooms are counted
 * per pod and user instead (PersonalPresence), refreshed and registered again with the entries.
 */
export class RedisPresenceStore extends PresenceStore {
  private readonly logger = new Logger(RedisPresenceStore.name);
  /** Personal rooms' presence: counts per pod and user, not entries (see PersonalPresence). */
  private readonly personal: PersonalPresence;
  /** This pod's presence entries: room -> connection id -> user. */
  private readonly localPresence = new Map<string, Map<string, string>>();
  /** Adds and removes waiting to be sent, by room: sent as one script (see add). */
  private readonly pendingChanges = new Map<string, PendingBatch>();
  /**
   * This pod's entries whose remove failed (Redis unreachable), by room: sent again at the next
   * resync or refresh. Left alone, such an entry (a member who left or closed during an outage)
   * stayed in the presence API's counts until it expired, two heartbeats after Redis returned;
   * removing a connection's own entry is right whenever Redis takes it. Telling the room stays
   * with the outage's own rule (RoomsService: a `left` waits until every live pod registered again).
   */
  private readonly failedRemoves = new Map<string, Set<string>>();
  /** Rooms of this pod's entries last answered with far more users than get presence events (see add). */
  private readonly crowdedRooms = new Set<string>();
  private expiredListener: PresenceExpiredListener = () => undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** A timer refresh is under way (see refresh). */
  private refreshing = false;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: RedisPresenceOptions,
    private readonly window: BatchWindow,
  ) {
    super();
    this.personal = new PersonalPresence(connection, keys, options.presenceTtlMs, window);
    connection.onResync(() => this.registerAll());
    // A remove that failed during the resync itself (a leave sent as Redis came back, still
    // refused) missed its retry there: sent once the connection is available, not at the next
    // refresh, up to half a heartbeat later.
    connection.onResynced(() => void this.retryFailedRemoves().catch(() => undefined));
  }

  /** Starts refreshing this pod's entries; the engine calls it once connected. */
  start(): void {
    this.refreshTimer ??= setInterval(() => this.refresh(), this.options.presenceRefreshMs);
  }

  /**
   * Adds and removes in one room asked for in the same turn of the event loop (removes: in the
   * same batch window, BatchWindow) go to Redis as one script, in order, answered as separate
   * scripts would be: a burst of joins or leaves (connections arriving, a reconnect storm, a
   * drain) costs one Redis command per room per turn or window instead of one per connection. Any other call about the room (snapshot, refresh, close) sends the waiting
   * changes first, so Redis sees every call in the order this pod made it. In a crowded room
   * (thousands of members: a broadcast audience, which gets no presence events) adds wait for the
   * window too: a burst of admissions into it costs a script per window, not one per connection.
   */
  add(room: string, user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange> {
    let entries = this.localPresence.get(room);
    if (!entries) this.localPresence.set(room, (entries = new Map()));
    // Remembered first: if Redis is down now, the entry is registered when it comes back.
    entries.set(connectionId, user);
    return this.change(room, 'add', connectionId, user, announce);
  }

  remove(room: string, _user: string, connectionId: string, announce?: PresenceAnnouncement): Promise<PresenceChange> {
    const entries = this.localPresence.get(room);
    entries?.delete(connectionId);
    if (entries?.size === 0) {
      this.localPresence.delete(room);
      this.crowdedRooms.delete(room);
    }
    // After close() this pod's entries are already gone from Redis.
    if (this.closed) return Promise.resolve({ userChanged: false, users: 0 });
    const removing = this.change(room, 'remove', connectionId, undefined, announce);
    removing.catch(() => this.rememberFailedRemove(room, connectionId));
    return removing;
  }

  private rememberFailedRemove(room: string, connectionId: string): void {
    if (this.closed) return;
    let ids = this.failedRemoves.get(room);
    if (!ids) this.failedRemoves.set(room, (ids = new Set()));
    ids.add(connectionId);
  }

  /**
   * Sends the removes that failed again (see failedRemoves); those that fail again are kept.
   * Telling no one while the pod lives (the outage rule tells), and the room at close (see close).
   */
  private retryFailedRemoves(announce?: PresenceAnnouncement): Promise<unknown> {
    if (this.failedRemoves.size === 0) return Promise.resolve();
    const rooms = [...this.failedRemoves];
    this.failedRemoves.clear();
    return Promise.all(rooms.flatMap(([room, ids]) => this.sendRemoves(room, [...ids], announce, (slice) => slice.forEach((connectionId) => this.rememberFailedRemove(room, connectionId)))));
  }

  /**
   * Removes `ids`' entries of `room` in slices, as the refresh sends entries: a pod with thousands
   * of connections sends a few scripts per room, not one per connection. Told to the room with
   * `announce`; `onFailed` hears each slice that failed. Sent whatever the connection's state.
   */
  private sendRemoves(room: string, ids: string[], announce: PresenceAnnouncement | undefined, onFailed?: (slice: string[]) => void): Promise<unknown>[] {
    return slicesOf(ids).map((slice) => {
      const changes = slice.map((connectionId): PresenceEntryChange => ({ op: 'remove', connectionId, announce }));
      const removing = this.connection.attempt('presence remove', (redis) => redis.heraldPresenceChanges(this.keys.presenceKeys(room), this.options.presenceTtlMs, changes, this.tellingFor(room, changes)));
      return onFailed
        ? removing.catch((error: unknown) => {
            onFailed(slice);
            throw error;
          })
        : removing;
    });
  }

  enterPersonal(room: string, user: string, connectionId: string): void {
    this.personal.enter(room, user, connectionId);
  }

  leavePersonal(room: string, user: string, connectionId: string): void {
    this.personal.leave(room, user, connectionId);
  }

  /** `user` is an add's; a remove needs only the connection. */
  private change(room: string, op: PresenceEntryChange['op'], connectionId: string, user?: string, announce?: PresenceAnnouncement): Promise<PresenceChange> {
    return new Promise((resolve, reject) => {
      let batch = this.pendingChanges.get(room);
      const created = !batch;
      if (!batch) this.pendingChanges.set(room, (batch = { changes: [], addScheduled: false }));
      const pending = batch;
      // Built whole, not spread from a change object: one object per join or leave, not two.
      pending.changes.push(
        op === 'add' ? { op, connectionId, user: user!, resolve, reject, announce } : { op, connectionId, resolve, reject, announce },
      );
      // An add goes at the end of this turn, as it always did: told later, the room's other users
      // would hear of a join after connections that joined just after it (a newcomer would be
      // told of a user who was there first). A remove waits for the window. Whichever is
      // scheduled first sends the batch; sendChanges ignores the other.
      if (op === 'add' && !this.crowdedRooms.has(room)) {
        if (!pending.addScheduled) {
          pending.addScheduled = true;
          setImmediate(() => this.sendChanges(room, pending));
        }
      } else if (created) this.window.schedule(() => this.sendChanges(room, pending));
    });
  }

  /** Sends a room's waiting changes, if `batch` is still what waits for it. */
  private sendChanges(room: string, batch: PendingBatch): void {
    if (this.pendingChanges.get(room) !== batch) return;
    this.pendingChanges.delete(room);
    // In slices, as the refresh sends entries: one script per slice, sent in this turn and so run
    // in order, each answered on its own. A burst of thousands of joins in one turn would
    // otherwise be one script that holds Redis (and every other pod) for its whole length, and
    // that answers nothing until its end, however steadily Redis works through it.
    for (const slice of slicesOf(batch.changes)) this.sendSlice(room, slice);
  }

  private sendSlice(room: string, changes: PendingChange[]): void {
    const telling = this.tellingFor(room, changes);
    this.connection
      .run('presence change', (redis) => redis.heraldPresenceChanges(this.keys.presenceKeys(room), this.options.presenceTtlMs, changes, telling))
      .then(
        (reply) => {
          this.reportExpired(room, { expiredUsers: reply.expiredUsers, users: reply.changes[0].users });
          this.noteCrowding(room, reply.changes[reply.changes.length - 1].users);
          changes.forEach((change, index) => change.resolve(reply.changes[index]));
        },
        (error: unknown) => {
          for (const change of changes) change.reject(error);
        },
      );
  }

  /** How the slice's announced changes are told: on the room's channel, as the broker broadcasts (RedisBroker.broadcast). */
  private tellingFor(room: string, changes: readonly PresenceEntryChange[]): PresenceTelling | undefined {
    const told = changes.find((change) => change.announce !== undefined)?.announce;
    if (told === undefined) return undefined;
    const channel = this.keys.channel(room);
    return {
      maxUsers: told.maxUsers,
      publishCommand: this.keys.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH',
      channel,
      messagePrefix: this.keys.sharedMessagePrefix(room, channel),
      room,
      timestamp: new Date().toISOString(),
    };
  }

  private noteCrowding(room: string, users: number): void {
    const limit = this.options.presenceEventsMaxUsers;
    if (limit !== undefined && users > CROWDED_FACTOR * limit && this.localPresence.has(room)) this.crowdedRooms.add(room);
    else this.crowdedRooms.delete(room);
  }

  /** Sends the changes waiting for `room`, or for every room. */
  private flushChanges(room?: string): void {
    if (room === undefined) {
      for (const [waitingRoom, batch] of [...this.pendingChanges]) this.sendChanges(waitingRoom, batch);
      return;
    }
    const batch = this.pendingChanges.get(room);
    if (batch) this.sendChanges(room, batch);
  }

  async snapshot(room: string): Promise<PresenceSnapshot> {
    if (isPersonalRoom(room)) return this.personal.snapshot(room, room.slice(PERSONAL_ROOM_PREFIX.length));
    const { userIds, connections } = await this.read(room, (redis, keys, ttlMs) => redis.heraldPresenceSnapshot(keys, ttlMs));
    return { users: userIds, connections };
  }

  async present(room: string, users: readonly string[]): Promise<PresentUsers> {
    const reply = await this.read(room, (redis, keys, ttlMs) => redis.heraldPresencePresent(keys, ttlMs, users));
    return { users: reply.users, present: reply.present };
  }

  async unheard(room: string, sinceMs: number, maxUsers: number): Promise<UnheardPresence> {
    // Asked as an age when sent: Redis compares it with its own clock, not this pod's.
    const reply = await this.read(room, (redis, keys, ttlMs) => redis.heraldPresenceUnheard(keys, ttlMs, Date.now() - sinceMs, maxUsers));
    return { users: reply.users, joinsToldSince: reply.joinsToldSince, departedSince: reply.departedSince };
  }

  /**
   * One of the room's presence reads: after this pod's changes still waiting for the room (so it
   * reads them), and reporting the users whose entries the script found expired, as every
   * presence script does.
   */
  private async read<Reply extends ExpiredPresence>(room: string, script: (redis: RedisCommands, keys: PresenceKeys, ttlMs: number) => Promise<Reply>): Promise<Reply> {
    this.flushChanges(room);
    const reply = await this.connection.run('presence', (redis) => script(redis, this.keys.presenceKeys(room), this.options.presenceTtlMs));
    this.reportExpired(room, reply);
    return reply;
  }

  onExpired(listener: PresenceExpiredListener): void {
    this.expiredListener = listener;
  }

  get localEntries(): number {
    let entries = this.personal.localEntries;
    for (const connections of this.localPresence.values()) entries += connections.size;
    return entries;
  }

  /**
   * Forgets this pod's entries in Redis, while the connection is still open, telling each room
   * who left: no later resync of this pod will (the outage rule). A drain whose leaves Redis did
   * not take (frozen meanwhile) sends them here; Redis runs them when it answers again, and
   * without telling, the entries were gone and no one ever heard `left`, not even by expiry.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    this.flushChanges();
    const { presenceEventsMaxUsers } = this.options;
    const announce = presenceEventsMaxUsers === undefined ? undefined : { maxUsers: presenceEventsMaxUsers };
    const removals = [...this.localPresence].flatMap(([room, entries]) => this.sendRemoves(room, [...entries.keys()], announce));
    this.localPresence.clear();
    this.crowdedRooms.clear();
    const retried = this.retryFailedRemoves(announce);
    const failed = (await Promise.allSettled([...removals, retried, this.personal.close()])).filter((outcome) => outcome.status === 'rejected');
    if (failed.length > 0) {
      // Unreachable Redis: the entries expire on their own within presenceTtlMs.
      this.logger.warn({ message: 'Could not remove presence on close', scripts: failed.length, error: describeError(failed[0].reason) });
    }
  }

  /**
   * Registers every entry of this pod again. `paced` (the timer's refresh): one slice at a
   * time, each sent once the one before is answered, and the slices spread over the first half
   * of the refresh interval. Sent all at once, a pod's thousands of entries were scripts queued
   * back to back on its command connection and in Redis, and the publishes queued behind them
   * (this pod's own, and every other pod's in Redis) waited for all of them: a latency spike at
   * every refresh. Paced, a publish waits for one slice at most; spread, Redis spends the
   * refresh's CPU evenly instead of in a burst every presenceRefreshMs (sliceGapMs apart). An
   * entry is still refreshed within 1.5 x presenceRefreshMs of the last time, well inside
   * presenceTtlMs.
   * After a reconnect (resync) they go at once: nothing is delivered until they are back.
   */
  private async registerAll(paced = false): Promise<void> {
    this.flushChanges();
    const removals = this.retryFailedRemoves();
    // Handled now, told with the refresh's own outcome below.
    removals.catch(() => undefined);
    const personal = paced ? this.personal.refresh() : this.personal.replaceAll();
    // Handled now: a paced refresh awaits its slices before it gets to the Promise.all below.
    personal.catch(() => undefined);
    const refreshes: Promise<unknown>[] = [personal, removals];
    const rooms = [...this.localPresence].map(([room, entries]) => ({ room, entries, slices: slicesOf([...entries.keys()]) }));
    const sliceCount = rooms.reduce((count, { slices }) => count + slices.length, 0);
    const gapMs = paced ? sliceGapMs(sliceCount, this.options.presenceRefreshMs / 2) : 0;
    let sent = 0;
    /** A paced slice's failure, told once the rest were sent: on a Cluster one silent shard fails only its own rooms' slices. */
    let failure: { error: unknown } | undefined;
    for (const { room, entries, slices } of rooms) {
      for (const [index, ids] of slices.entries()) {
        if (gapMs > 0 && sent++ > 0) await pause(gapMs);
        // Read when sent: an entry removed since (its remove follows on this connection) must
        // not be registered again by a slice sent after the remove.
        const slice: [string, string][] = [];
        for (const id of ids) {
          const user = entries.get(id);
          if (user !== undefined) slice.push([id, user]);
        }
        const last = index === slices.length - 1;
        if (slice.length === 0 && !last) continue;
        // A pod that closed meanwhile removed its entries: a later slice would put them back.
        if (this.closed) return;
        const keys = this.keys.presenceKeys(room);
        if (paced && !this.connection.answersFor(keys.expiry)) {
          // Its shard is silent: waiting for the deadline would hold every room after it.
          failure ??= { error: new BrokerUnavailableError('The message broker is unreachable (Redis presence refresh: the primary of its shard does not answer)') };
          continue;
        }
        const refreshing = this.connection
          .attempt('presence refresh', (redis) => redis.heraldPresenceRefresh(keys, this.options.presenceTtlMs, slice, last))
          .then((expired) => this.reportExpired(room, expired));
        if (paced) await refreshing.catch((error: unknown) => (failure ??= { error }));
        else refreshes.push(refreshing);
      }
    }
    await Promise.all(refreshes);
    if (failure) throw failure.error;
  }

  /** Extends this pod's presence entries; runs on a timer, every presenceRefreshMs. */
  private refresh(): void {
    // A paced refresh still under way (a pod with very many entries) is not started twice.
    if (this.refreshing || !this.connection.available) return;
    this.refreshing = true;
    this.registerAll(true)
      .catch((error: unknown) =>
        // The next refresh (or the resync after a reconnect) registers them again.
        this.logger.warn({ message: 'Presence refresh failed', rooms: this.localPresence.size, error: describeError(error) }),
      )
      .finally(() => (this.refreshing = false));
  }

  private reportExpired(room: string, { expiredUsers, users }: ExpiredPresence): void {
    for (const user of expiredUsers) {
      try {
        this.expiredListener(room, user, users);
      } catch (error) {
        this.logger.error({ message: 'Presence-expired listener failed', room, error: describeError(error) });
      }
    }
  }
}

/** A wait that does not keep a closing process alive. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `items` in slices of PRESENCE_ENTRIES_PER_SCRIPT: how a room's entries go to Redis, added, refreshed or removed. */
function slicesOf<T>(items: readonly T[]): T[][] {
  // Most turns carry one change or a few: those go as they are, without a copy.
  if (items.length <= PRESENCE_ENTRIES_PER_SCRIPT) return [items as T[]];
  const slices: T[][] = [];
  for (let index = 0; index < items.length; index += PRESENCE_ENTRIES_PER_SCRIPT) slices.push(items.slice(index, index + PRESENCE_ENTRIES_PER_SCRIPT));
  return slices;
}
