import { BatchWindow } from './batch-window';
import { PERSONAL_COUNTS_PER_SCRIPT, PersonalPresence } from './personal-presence';
import type { PersonalPresenceKeys, PersonalPresenceWriteMode } from './personal-presence.scripts';
import type { RedisConnection } from './redis.connection';
import { RedisKeys } from './redis-keys';

interface Write {
  shard: string;
  mode: PersonalPresenceWriteMode;
  counts: Record<string, number>;
}

/** Redis as far as PersonalPresence goes: each write recorded, and answered whether the pod's hash existed. */
class WriteRecorder {
  readonly writes: Write[] = [];
  /** What the next writes answer: `fail` rejects, `gone` says the pod's hash did not exist. */
  readonly answers: ('fail' | 'gone')[] = [];
  readonly connection = {
    run: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
    attempt: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
  } as unknown as Pick<RedisConnection, 'run' | 'attempt'>;

  heraldPersonalPresenceWrite = async (keys: PersonalPresenceKeys, _podId: string, _ttlMs: number, mode: PersonalPresenceWriteMode, flat: string[]) => {
    const counts: Record<string, number> = {};
    for (let index = 0; index < flat.length; index += 2) counts[flat[index]] = Number(flat[index + 1]);
    this.writes.push({ shard: keys.shard, mode, counts });
    const answer = this.answers.shift();
    if (answer === 'fail') throw new Error('Redis went away');
    return answer !== 'gone';
  };

  take(): Write[] {
    return this.writes.splice(0);
  }
}

describe('PersonalPresence', () => {
  const setUp = (keys = new RedisKeys('test:')) => {
    const redis = new WriteRecorder();
    return { redis, presence: new PersonalPresence(redis.connection, keys, 30_000, new BatchWindow(0)) };
  };
  /** A turn of the event loop: the window (0 ms) has run. */
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it("writes one window's changes as one script: each changed user's count as it stands, 0 for gone", async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    presence.enter('user:ann', 'ann', 'c2');
    presence.enter('user:bob', 'bob', 'c3');
    presence.enter('user:bob', 'bob', 'c3');
    presence.enter('user:cid', 'cid', 'c4');
    presence.leave('user:cid', 'cid', 'c4');
    presence.leave('user:cid', 'cid', 'unknown');
    expect(redis.writes).toEqual([]);
    await nextTurn();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'update', counts: { ann: 2, bob: 1, cid: 0 } }]);
    expect(presence.localEntries).toBe(3);

    presence.leave('user:ann', 'ann', 'c1');
    await nextTurn();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'update', counts: { ann: 1 } }]);
    // Nothing changed, nothing written.
    presence.leave('user:ann', 'ann', 'c1');
    await nextTurn();
    expect(redis.take()).toEqual([]);
  });

  it('splits a burst into scripts of at most PERSONAL_COUNTS_PER_SCRIPT users', async () => {
    const { redis, presence } = setUp();
    const users = Array.from({ length: PERSONAL_COUNTS_PER_SCRIPT + 3 }, (_, index) => `u${index}`);
    for (const user of users) presence.enter(`user:${user}`, user, `c-${user}`);
    await nextTurn();
    const writes = redis.take();
    expect(writes.map((write) => Object.keys(write.counts).length)).toEqual([PERSONAL_COUNTS_PER_SCRIPT, 3]);
    expect(writes.flatMap((write) => Object.keys(write.counts))).toEqual(users);
    // Written whole (a resync), only the first slice drops what the hash held.
    await presence.replaceAll();
    expect(redis.take().map((write) => [write.mode, Object.keys(write.counts).length])).toEqual([
      ['replace', PERSONAL_COUNTS_PER_SCRIPT],
      ['update', 3],
    ]);
  });

  it('spreads users over the shards of a Cluster, each shard its own script', async () => {
    const { redis, presence } = setUp(new RedisKeys('test:', true));
    const users = Array.from({ length: 40 }, (_, index) => `u${index}`);
    for (const user of users) presence.enter(`user:${user}`, user, `c-${user}`);
    await nextTurn();
    const writes = redis.take();
    expect(writes.length).toBeGreaterThan(1);
    for (const write of writes) expect(write.shard).toMatch(/^user:\*\d+$/);
    expect(writes.flatMap((write) => Object.keys(write.counts)).sort()).toEqual([...users].sort());
  });

  it('writes again at the next refresh what a failed write left, as the counts stand then', async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    presence.enter('user:bob', 'bob', 'c2');
    redis.answers.push('fail');
    await nextTurn();
    await nextTurn();
    redis.take();
    // bob changes no more: only the failed write knew of him.
    presence.enter('user:ann', 'ann', 'c3');
    await presence.refresh();
    expect(redis.take().flatMap((write) => Object.entries(write.counts))).toEqual([
      ['ann', 2],
      ['bob', 1],
    ]);
    // The window that ann's change scheduled finds nothing left to write.
    await nextTurn();
    expect(redis.take()).toEqual([]);
    // Refreshed with nothing to write: the pod is still kept alive.
    await presence.refresh();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'update', counts: {} }]);
  });

  it("writes a shard whole when a refresh finds the pod's counts gone (a stall past the TTL, or Redis lost them)", async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    presence.enter('user:bob', 'bob', 'c2');
    presence.enter('user:bob', 'bob', 'c3');
    await nextTurn();
    redis.take();
    redis.answers.push('gone');
    await presence.refresh();
    expect(redis.take()).toEqual([
      { shard: 'user:*', mode: 'update', counts: {} },
      { shard: 'user:*', mode: 'replace', counts: { ann: 1, bob: 2 } },
    ]);
  });

  it('keeps what a failed refresh had to write for the next one, and a shard to write whole until that succeeds', async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    redis.answers.push('fail');
    await nextTurn();
    await nextTurn();
    redis.take();
    // The refresh's own write fails: ann waits for the next one.
    redis.answers.push('fail');
    await expect(presence.refresh()).rejects.toThrow('Redis went away');
    redis.take();
    // The hash is gone, and writing it whole fails: the next refresh writes it whole again.
    redis.answers.push('gone', 'fail');
    await expect(presence.refresh()).rejects.toThrow('Redis went away');
    expect(redis.take()).toEqual([
      { shard: 'user:*', mode: 'update', counts: { ann: 1 } },
      { shard: 'user:*', mode: 'replace', counts: { ann: 1 } },
    ]);
    await presence.refresh();
    expect(redis.take()).toEqual([
      { shard: 'user:*', mode: 'update', counts: {} },
      { shard: 'user:*', mode: 'replace', counts: { ann: 1 } },
    ]);
    await presence.refresh();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'update', counts: {} }]);
  });

  it('replaces everything on a resync, users who left meanwhile included by their absence', async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    presence.enter('user:bob', 'bob', 'c2');
    await nextTurn();
    presence.leave('user:bob', 'bob', 'c2');
    redis.take();
    await presence.replaceAll();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'replace', counts: { ann: 1 } }]);
    // What waited for the window went with the replacement.
    await nextTurn();
    expect(redis.take()).toEqual([]);
  });

  it('forgets its counts on close, and writes nothing after', async () => {
    const { redis, presence } = setUp();
    presence.enter('user:ann', 'ann', 'c1');
    await nextTurn();
    redis.take();
    await presence.close();
    expect(redis.take()).toEqual([{ shard: 'user:*', mode: 'forget', counts: {} }]);
    presence.leave('user:ann', 'ann', 'c1');
    expect(presence.localEntries).toBe(0);
    // A connection admitted while the pod shuts down is not written back either.
    presence.enter('user:bob', 'bob', 'c2');
    await nextTurn();
    expect(redis.take()).toEqual([]);
  });
});
