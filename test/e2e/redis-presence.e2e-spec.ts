import { createClient } from 'redis';
import { RedisEngine, RedisEngineOptions } from '../../src/broker/redis/redis.engine';
import { RedisKeys } from '../../src/broker/redis/redis-keys';
import { eventually } from '../support/eventually';
import { RedisServer, startRedis } from '../support/redis-server';

/**
 * RedisPresenceStore sends the presence adds of one room asked for in one turn of the event loop
 * as one script; every caller must still get the answer a script of its own would have given,
 * and Redis must see the pod's calls in the order it made them.
 */
describe('Redis presence adds made in one turn', () => {
  let redis: RedisServer;
  const engines: RedisEngine[] = [];
  let prefixes = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await redis.stop();
  });

  async function engine(options: Partial<RedisEngineOptions> = {}, prefix = `presence${++prefixes}:`): Promise<RedisEngine> {
    const created = new RedisEngine({ url: redis.url, prefix, historySize: 100, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000, presenceTtlMs: 10_000, presenceRefreshMs: 5_000, ...options });
    engines.push(created);
    await created.connect();
    return created;
  }

  it('answers each add as if it had run alone, one after the other', async () => {
    const { presence } = await engine();
    const changes = await Promise.all([presence.add('room', 'ann', 'c1'), presence.add('room', 'ann', 'c2'), presence.add('room', 'bob', 'c3'), presence.add('other', 'ann', 'c1')]);
    expect(changes).toEqual([
      { userChanged: true, users: 1 },
      { userChanged: false, users: 1 },
      { userChanged: true, users: 2 },
      { userChanged: true, users: 1 },
    ]);
    expect(await presence.snapshot('room')).toEqual({ users: expect.arrayContaining(['ann', 'bob']), connections: 3 });
  });

  it('sends an add before a remove, snapshot or close asked for after it in the same turn', async () => {
    const { presence } = await engine();
    const [added, removed, snapshot] = await Promise.all([presence.add('room', 'cid', 'c9'), presence.remove('room', 'cid', 'c9'), presence.snapshot('room'), presence.add('room', 'dan', 'c10')]);
    expect(added).toEqual({ userChanged: true, users: 1 });
    expect(removed).toEqual({ userChanged: true, users: 0 });
    expect(snapshot).toEqual({ users: [], connections: 0 });
    expect(await presence.snapshot('room')).toEqual({ users: ['dan'], connections: 1 });
  });

  it('refreshes a big room a slice at a time, never putting back an entry removed meanwhile', async () => {
    const { presence } = await engine({ presenceRefreshMs: 600_000 });
    const ids = Array.from({ length: 1_200 }, (_, index) => `c${index}`);
    await Promise.all(ids.map((id) => presence.add('big', `u-${id}`, id)));
    // The timer's refresh, called directly: three slices, each sent once the one before is answered.
    const refreshing = (presence as unknown as { registerAll(paced: boolean): Promise<void> }).registerAll(true);
    // Removed while the first slice is on its way; the snapshot sends the remove at once, ahead
    // of the later slices that held it when the refresh began.
    await presence.remove('big', 'u-c1100', 'c1100');
    expect((await presence.snapshot('big')).connections).toBe(1_199);
    await refreshing;
    const after = await presence.snapshot('big');
    expect(after.connections).toBe(1_199);
    expect(after.users).not.toContain('u-c1100');
  });

  it('puts back none of the entries of a pod that closed during a paced refresh', async () => {
    const prefix = `presence${++prefixes}:`;
    const { presence } = await engine({ presenceRefreshMs: 600_000 }, prefix);
    const other = await engine({ presenceRefreshMs: 600_000 }, prefix);
    const ids = Array.from({ length: 1_200 }, (_, index) => `c${index}`);
    await Promise.all(ids.map((id) => presence.add('big', `u-${id}`, id)));
    const refreshing = (presence as unknown as { registerAll(paced: boolean): Promise<void> }).registerAll(true);
    await presence.close();
    await refreshing.catch(() => undefined);
    expect(await other.presence.snapshot('big')).toEqual({ users: [], connections: 0 });
  });

  it('records a join into a crowded room within the batch window, counted by another pod and in order with a leave after it', async () => {
    const prefix = `presence${++prefixes}:`;
    // PRESENCE_EVENTS_MAX_USERS 1: a room of more than two users is crowded.
    const { presence } = await engine({ presenceEventsMaxUsers: 1, batchWindowMs: 20 }, prefix);
    const other = await engine({}, prefix);
    await Promise.all(['a', 'b', 'c'].map((user) => presence.add('crowd', user, `c-${user}`)));
    // Waits for the window now, yet the other pod counts it once the window has passed.
    const added = presence.add('crowd', 'dan', 'c-dan');
    await eventually(async () => expect((await other.presence.snapshot('crowd')).users).toContain('dan'), 2000, 10);
    await expect(added).resolves.toEqual({ userChanged: true, users: 4 });
    // A join and a leave in one window reach Redis in the order made.
    const [joined, left] = await Promise.all([presence.add('crowd', 'eve', 'c-eve'), presence.remove('crowd', 'eve', 'c-eve')]);
    expect([joined, left]).toEqual([{ userChanged: true, users: 5 }, { userChanged: true, users: 4 }]);
    expect(await other.presence.snapshot('crowd')).toEqual({ users: expect.arrayContaining(['a', 'b', 'c', 'dan']), connections: 4 });
  });

  it("reports a dead pod's expired user once, with the count the first add of the turn saw", async () => {
    const prefix = `presence${++prefixes}:`;
    const { presence } = await engine({}, prefix);
    // A pod that never refreshes: its entry expires after 200 ms, as a dead pod's would.
    const dead = await engine({ presenceTtlMs: 200, presenceRefreshMs: 600_000 }, prefix);
    const expired: [string, string, number][] = [];
    presence.onExpired((room, user, users) => expired.push([room, user, users]));
    await presence.add('room', 'host', 'h1');
    await dead.presence.add('room', 'ghost', 'g1');
    const deadAddedAt = Date.now();
    // Each add keeps the room's keys for its own TTL: the live pod's next one outlasts the ghost.
    await presence.add('room', 'host', 'h2');
    // The condition is time itself: the ghost's entry is past its 200 ms TTL (Redis clock, same host).
    await eventually(() => expect(Date.now()).toBeGreaterThan(deadAddedAt + 300), 2000, 25);
    const changes = await Promise.all([presence.add('room', 'eve', 'c1'), presence.add('room', 'fay', 'c2')]);
    expect(changes).toEqual([
      { userChanged: true, users: 2 },
      { userChanged: true, users: 3 },
    ]);
    expect(expired).toEqual([['room', 'ghost', 2]]);
  });
  /**
   * A stall, as Redis looks after one: no script touched the room for longer than half the TTL
   * (its pods refresh it every few seconds), and the entry of another pod, which could not
   * refresh it, has expired. Staged with an inspector (Redis's clock cannot be paused without
   * pausing the scripts too); the freeze itself is test/e2e/redis-freeze's.
   */
  it('does not report the users of entries that expired during a stall until one TTL has passed, and then does if their pod never came back', async () => {
    const prefix = `presence${++prefixes}:`;
    const ttlMs = 10_000;
    const { presence } = await engine({ presenceTtlMs: ttlMs, presenceRefreshMs: 600_000 }, prefix);
    const other = await engine({ presenceTtlMs: ttlMs, presenceRefreshMs: 600_000 }, prefix);
    const expired: string[] = [];
    presence.onExpired((_room, user) => expired.push(user));
    await presence.add('room', 'host', 'h1');
    await other.presence.add('room', 'ghost', 'g1');
    const inspector = createClient({ url: redis.url });
    await inspector.connect();
    try {
      const keys = new RedisKeys(prefix).presenceKeys('room');
      const [seconds] = (await inspector.time()).map(Number);
      const nowMs = seconds * 1000;
      const stall = async () => {
        await inspector.zAdd(keys.expiry, { score: nowMs - 1, value: 'g1' });
        await inspector.hSet(keys.clock, 'touched', String(nowMs - ttlMs));
      };
      await stall();
      // The first script after the stall: the ghost's entry is kept, and its user not reported.
      expect(await presence.add('room', 'eve', 'e1')).toEqual({ userChanged: true, users: 3 });
      expect(await presence.snapshot('room')).toEqual({ users: expect.arrayContaining(['host', 'ghost', 'eve']), connections: 3 });
      expect(Number(await inspector.hGet(keys.clock, 'grace'))).toBeGreaterThanOrEqual(nowMs + ttlMs);
      // Its pod registers it again within the grace (as its resync does): nothing was ever reported.
      expect(await other.presence.add('room', 'ghost', 'g1')).toEqual({ userChanged: false, users: 3 });
      expect(Number(await inspector.zScore(keys.expiry, 'g1'))).toBeGreaterThan(nowMs);
      expect(expired).toEqual([]);

      // Another stall, after which the ghost's pod never comes back: once the grace is over, its user is reported, once.
      await stall();
      await presence.add('room', 'fay', 'f1');
      expect(expired).toEqual([]);
      await inspector.hSet(keys.clock, 'grace', String(nowMs - 1));
      expect(await presence.add('room', 'gus', 'g3')).toEqual({ userChanged: true, users: 4 });
      expect(expired).toEqual(['ghost']);
      expect((await presence.snapshot('room')).users.sort()).toEqual(['eve', 'fay', 'gus', 'host']);
    } finally {
      await inspector.quit();
    }
  });
});
