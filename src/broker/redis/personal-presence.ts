import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { PERSONAL_ROOM_PREFIX } from '@herald/client/protocol';
import type { PresenceSnapshot } from '../presence.store';
import type { BatchWindow } from './batch-window';
import { PersonalPresenceKeys, PersonalPresenceWriteMode } from './personal-presence.scripts';
import { describeError } from './redis.client';
import type { RedisConnection } from './redis.connection';
import type { RedisKeys } from './redis-keys';

/** Users per write script: a pod's thousands of users go in slices, as presence entries do. */
export const PERSONAL_COUNTS_PER_SCRIPT = 500;

/**
 * The personal rooms' presence on Redis: what the presence API answers for `user:<id>` (its
 * user's connections across pods), and nothing else reads it. A pod counts its own connections
 * per user and writes the counts that changed, as absolute numbers, once per batch window: a
 * burst of admissions costs Redis one HSET per user per window and the pod a map entry, not an
 * entry per connection with its expiry, a promise and a reply each (the personal room was every
 * connection's second presence entry, and the one no client waits for).
 *
 * A pod's counts live in a hash of its own, kept for the presence TTL and refreshed with its
 * presence entries; a pod that dies stops refreshing, so its counts and its place in the shard's
 * set of live pods expire together. Counts are absolute, so a write that failed is simply
 * written again (the next refresh), and a resync replaces the pod's whole hash.
 */
export class PersonalPresence {
  private readonly logger = new Logger(PersonalPresence.name);
  /** Ids unique across pods: this pod's hash, and its member in each shard's set of pods. */
  private readonly podId = randomBytes(9).toString('base64url');
  /** user -> this pod's connection ids in their personal room: one id, or a Set of several (the common case costs no Set). */
  private readonly connectionsByUser = new Map<string, string | Set<string>>();
  /** Users per shard with at least one connection here: which shards a refresh keeps alive. */
  private readonly usersPerShard = new Map<string, number>();
  /** Users whose count changed since it was last written, by shard. */
  private unwritten = new Map<string, Set<string>>();
  /** Shards whose hash must be written whole (a resync, or a refresh that found it gone) until that succeeds. */
  private readonly replaceDue = new Set<string>();
  private writeScheduled = false;
  private readonly shardKeys = new Map<string, PersonalPresenceKeys>();
  private closed = false;

  constructor(
    private readonly connection: Pick<RedisConnection, 'run' | 'attempt'>,
    private readonly keys: RedisKeys,
    private readonly ttlMs: number,
    private readonly window: BatchWindow,
  ) {}

  /** Connections counted here (leak checks). */
  get localEntries(): number {
    let entries = 0;
    for (const ids of this.connectionsByUser.values()) entries += countOf(ids);
    return entries;
  }

  /** Counts a connection of `user` in its personal room `room`; written with the batch window. */
  enter(room: string, user: string, connectionId: string): void {
    const shard = this.keys.personalPresenceRoom(room);
    const ids = this.connectionsByUser.get(user);
    if (ids === undefined) {
      this.connectionsByUser.set(user, connectionId);
      this.countUserIn(shard, 1);
    } else if (typeof ids === 'string') {
      if (ids === connectionId) return;
      this.connectionsByUser.set(user, new Set([ids, connectionId]));
    } else {
      if (ids.has(connectionId)) return;
      ids.add(connectionId);
    }
    this.changed(shard, user);
  }

  /** Stops counting a connection; unknown ones change nothing. */
  leave(room: string, user: string, connectionId: string): void {
    const shard = this.keys.personalPresenceRoom(room);
    const ids = this.connectionsByUser.get(user);
    if (ids === connectionId) {
      this.connectionsByUser.delete(user);
      this.countUserIn(shard, -1);
    } else if (typeof ids === 'object' && ids.delete(connectionId)) {
      if (ids.size === 1) this.connectionsByUser.set(user, ids.values().next().value!);
    } else return;
    this.changed(shard, user);
  }

  /** The user's connections across pods; what this pod has not written yet is written first. */
  async snapshot(room: string, user: string): Promise<PresenceSnapshot> {
    if (this.unwritten.size > 0) this.writeChanged();
    const connections = await this.connection.run('presence', (redis) => redis.heraldPersonalPresenceOfUser(this.keysOf(this.keys.personalPresenceRoom(room)), user));
    return { users: connections > 0 ? [user] : [], connections };
  }

  /**
   * Keeps this pod's counts alive (every presenceRefreshMs, with the presence entries), writing
   * what a failed write left behind; a shard whose hash is gone (the pod stalled past the TTL, or
   * Redis lost it) is written whole again.
   */
  async refresh(): Promise<void> {
    const unwritten = this.takeUnwritten();
    const shards = new Set([...this.usersPerShard.keys(), ...unwritten.keys(), ...this.replaceDue]);
    await Promise.all(
      [...shards].map(async (shard) => {
        const users = unwritten.get(shard);
        let existed: boolean;
        try {
          existed = await this.write(shard, 'update', users ? this.countsOf(users) : []);
        } catch (error) {
          this.writeLater(shard, users);
          throw error;
        }
        if (!existed && this.usersPerShard.has(shard)) this.replaceDue.add(shard);
        if (this.replaceDue.has(shard)) await this.replace(shard);
      }),
    );
  }

  /** Writes every count of this pod again, dropping whatever Redis held for it (a resync). */
  async replaceAll(): Promise<void> {
    for (const shard of [...this.usersPerShard.keys(), ...this.takeUnwritten().keys()]) this.replaceDue.add(shard);
    await Promise.all([...this.replaceDue].map((shard) => this.replace(shard)));
  }

  /** Forgets this pod's counts in Redis, while the connection is still open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const shards = new Set([...this.usersPerShard.keys(), ...this.takeUnwritten().keys(), ...this.replaceDue]);
    this.replaceDue.clear();
    this.connectionsByUser.clear();
    this.usersPerShard.clear();
    const forgotten = await Promise.allSettled([...shards].map((shard) => this.write(shard, 'forget', [])));
    const failed = forgotten.filter((outcome) => outcome.status === 'rejected');
    // Unreachable Redis: the counts expire on their own within the presence TTL.
    if (failed.length > 0) this.logger.warn({ message: 'Could not remove personal presence on close', shards: failed.length, error: describeError(failed[0].reason) });
  }

  private countUserIn(shard: string, change: 1 | -1): void {
    const users = (this.usersPerShard.get(shard) ?? 0) + change;
    if (users > 0) this.usersPerShard.set(shard, users);
    else this.usersPerShard.delete(shard);
  }

  private changed(shard: string, user: string): void {
    // After close() this pod's counts are gone from Redis, and stay gone.
    if (this.closed) return;
    this.unwrittenIn(shard).add(user);
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    this.window.schedule(() => this.writeChanged());
  }

  /** Writes the counts that changed. A failed write leaves its users to the next refresh or resync. */
  private writeChanged(): void {
    this.writeScheduled = false;
    for (const [shard, users] of this.takeUnwritten()) {
      this.write(shard, 'update', this.countsOf(users), 'run').catch((error: unknown) => {
        this.logger.debug({ message: 'Personal presence write failed', users: users.size, error: describeError(error) });
        this.writeLater(shard, users);
      });
    }
  }

  /** Users a failed write left: written by the next refresh (or the resync after a reconnect), as their counts stand then. */
  private writeLater(shard: string, users: Set<string> | undefined): void {
    if (this.closed || !users) return;
    const unwritten = this.unwrittenIn(shard);
    for (const user of users) unwritten.add(user);
  }

  /** Writes the shard's counts whole. */
  private async replace(shard: string): Promise<void> {
    const counts: string[] = [];
    for (const [user, ids] of this.connectionsByUser) {
      if (this.keys.personalPresenceRoom(PERSONAL_ROOM_PREFIX + user) === shard) counts.push(user, String(countOf(ids)));
    }
    await this.write(shard, 'replace', counts);
    this.replaceDue.delete(shard);
  }

  /**
   * One script per slice of PERSONAL_COUNTS_PER_SCRIPT users, `mode` applying to the first (a
   * replace drops what the hash held once, the rest add to it); resolves whether the pod's hash
   * existed before. The slices are sent together, so nothing this pod writes meanwhile lands
   * between the first and the rest.
   */
  private async write(shard: string, mode: PersonalPresenceWriteMode, counts: string[], how: 'run' | 'attempt' = 'attempt'): Promise<boolean> {
    const keys = this.keysOf(shard);
    const outcomes = await Promise.all(
      slicesOf(counts).map((slice, index) =>
        this.connection[how]('presence', (redis) => redis.heraldPersonalPresenceWrite(keys, this.podId, this.ttlMs, index === 0 ? mode : 'update', slice)),
      ),
    );
    return outcomes[0];
  }

  /** Flat user, count pairs, the counts as this pod holds them now (0: gone). */
  private countsOf(users: Iterable<string>): string[] {
    const counts: string[] = [];
    for (const user of users) counts.push(user, String(countOf(this.connectionsByUser.get(user))));
    return counts;
  }

  private takeUnwritten(): Map<string, Set<string>> {
    const unwritten = this.unwritten;
    this.unwritten = new Map();
    return unwritten;
  }

  private unwrittenIn(shard: string): Set<string> {
    let users = this.unwritten.get(shard);
    if (!users) this.unwritten.set(shard, (users = new Set()));
    return users;
  }

  private keysOf(shard: string): PersonalPresenceKeys {
    let keys = this.shardKeys.get(shard);
    if (!keys) this.shardKeys.set(shard, (keys = this.keys.personalPresenceKeys(shard, this.podId)));
    return keys;
  }
}

function countOf(ids: string | Set<string> | undefined): number {
  return ids === undefined ? 0 : typeof ids === 'string' ? 1 : ids.size;
}

/** Flat pairs in slices of PERSONAL_COUNTS_PER_SCRIPT users; at least one slice, maybe empty. */
function slicesOf(counts: string[]): string[][] {
  const size = 2 * PERSONAL_COUNTS_PER_SCRIPT;
  if (counts.length <= size) return [counts];
  const slices: string[][] = [];
  for (let index = 0; index < counts.length; index += size) slices.push(counts.slice(index, index + size));
  return slices;
}
