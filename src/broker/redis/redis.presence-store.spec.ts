import { PresenceChange } from '../presence.store';
import { BatchWindow } from './batch-window';
import { PresenceEntryChange, PresenceChangesReply } from './presence.scripts';
import { PRESENCE_ENTRIES_PER_SCRIPT, RedisPresenceStore } from './redis.presence-store';
import { RedisConnection } from './redis.connection';
import { RedisKeys } from './redis-keys';
import { eventually } from '../../../test/support/eventually';

/**
 * Redis as far as the presence store's changes go: each heraldPresenceChanges script is recorded,
 * and answered as the real script would (a user changes with their first or last connection).
 */
class ScriptRecorder {
  readonly scripts: PresenceEntryChange[][] = [];
  private readonly connectionsByUser = new Map<string, Set<string>>();
  private readonly userByConnection = new Map<string, string>();

  /** Rooms whose shard the connection knows silent (answersFor), and rooms whose refresh fails. */
  readonly silentRooms = new Set<string>();
  readonly failingRooms = new Set<string>();
  /** While set, every script fails, as with Redis unreachable. */
  down = false;
  /** The store's resync listener (a reconnect), run by the test. */
  resync: () => Promise<void> = async () => undefined;
  /** What the store does once a resync made the connection available, run by the test. */
  resynced: () => void = () => undefined;
  /** What each heraldPresenceChanges script was asked to tell the room (undefined: nothing). */
  readonly tellings: unknown[] = [];

  readonly connection = {
    available: true,
    onResync: (listener: () => Promise<void>) => (this.resync = listener),
    onResynced: (listener: () => void) => (this.resynced = listener),
    answersFor: (key: string) => ![...this.silentRooms].some((room) => key.includes(`{${room}}`)),
    run: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
    attempt: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
  } as unknown as RedisConnection;

  /** When each refresh slice was sent (Date.now(), fake under jest's timers), and its size. */
  readonly refreshes: { atMs: number; entries: number; room: string }[] = [];

  heraldPresenceRefresh = async (keys: { connections: string }, _ttlMs: number, entries: [string, string][]) => {
    if (this.down || [...this.failingRooms].some((room) => keys.connections.includes(`{${room}}`))) throw new Error('The message broker is unreachable (deadline)');
    this.refreshes.push({ atMs: Date.now(), entries: entries.length, room: keys.connections });
    return { expiredUsers: [], users: 0 };
  };

  heraldPresenceChanges = async (_keys: unknown, _ttlMs: number, changes: PresenceEntryChange[], telling?: unknown): Promise<PresenceChangesReply> => {
    if (this.down) throw new Error('The message broker is unreachable (deadline)');
    this.tellings.push(telling);
    this.scripts.push(changes.map((change) => (change.op === 'add' ? { op: 'add', connectionId: change.connectionId, user: change.user } : { op: 'remove', connectionId: change.connectionId })));
    return { expiredUsers: [], changes: changes.map((change) => this.apply(change)) };
  };

  private apply(change: PresenceEntryChange): { userChanged: boolean; users: number } {
    if (change.op === 'add') {
      this.userByConnection.set(change.connectionId, change.user);
      const connections = this.connectionsByUser.get(change.user) ?? new Set();
      this.connectionsByUser.set(change.user, connections.add(change.connectionId));
      return { userChanged: connections.size === 1, users: this.connectionsByUser.size };
    }
    const user = this.userByConnection.get(change.connectionId)!;
    this.userByConnection.delete(change.connectionId);
    const connections = this.connectionsByUser.get(user)!;
    connections.delete(change.connectionId);
    if (connections.size === 0) this.connectionsByUser.delete(user);
    return { userChanged: connections.size === 0, users: this.connectionsByUser.size };
  }
}

describe('RedisPresenceStore', () => {
  function setUp(presenceEventsMaxUsers?: number, window = new BatchWindow(0)) {
    const redis = new ScriptRecorder();
    const store = new RedisPresenceStore(redis.connection, new RedisKeys('test:'), { presenceTtlMs: 30_000, presenceRefreshMs: 10_000, presenceEventsMaxUsers }, window);
    return { redis, store };
  }
  /** A turn of the event loop: what setImmediate scheduled has run. */
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it('sends one turn\'s adds in a room as one script when they are few', async () => {
    const { redis, store } = setUp();
    const changes = await Promise.all([store.add('chat', 'ann', 'c1'), store.add('chat', 'bob', 'c2'), store.add('chat', 'ann', 'c3')]);
    expect(redis.scripts.map((script) => script.length)).toEqual([3]);
    expect(changes).toEqual<PresenceChange[]>([
      { userChanged: true, users: 1 },
      { userChanged: true, users: 2 },
      { userChanged: false, users: 2 },
    ]);
  });

  it('splits a burst of one turn into scripts of at most PRESENCE_ENTRIES_PER_SCRIPT, in order, each add answered by its own outcome', async () => {
    const { redis, store } = setUp();
    const count = 2 * PRESENCE_ENTRIES_PER_SCRIPT + 7;
    const changes = await Promise.all(Array.from({ length: count }, (_, i) => store.add('crowd', `u${i}`, `c${i}`)));
    expect(redis.scripts.map((script) => script.length)).toEqual([PRESENCE_ENTRIES_PER_SCRIPT, PRESENCE_ENTRIES_PER_SCRIPT, 7]);
    expect(redis.scripts.flat().map((change) => change.connectionId)).toEqual(Array.from({ length: count }, (_, i) => `c${i}`));
    expect(changes.map((change) => change.users)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(changes.every((change) => change.userChanged)).toBe(true);
  });

  it('sends adds to a crowded room (more than twice PRESENCE_EVENTS_MAX_USERS users) with the batch window, not every turn', async () => {
    const window = new BatchWindow(60_000);
    const { redis, store } = setUp(2, window);
    // Five users: more than twice the limit of 2, which a script's answer tells the store.
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((user) => store.add('crowd', user, `c-${user}`)));
    expect(redis.scripts).toHaveLength(1);
    // Joins over three turns: they wait for the window (no one is told of them), then go as one script.
    const later: Promise<PresenceChange>[] = [];
    for (const user of ['f', 'g', 'h']) {
      later.push(store.add('crowd', user, `c-${user}`));
      await nextTurn();
    }
    expect(redis.scripts).toHaveLength(1);
    window.flushNow();
    expect((await Promise.all(later)).map((change) => change.users)).toEqual([6, 7, 8]);
    expect(redis.scripts.map((script) => script.length)).toEqual([5, 3]);
  });

  it('keeps sending adds every turn in a room small enough for presence events', async () => {
    const { redis, store } = setUp(3, new BatchWindow(60_000));
    await Promise.all(['a', 'b', 'c', 'd'].map((user) => store.add('chat', user, `c-${user}`)));
    // Up to six users is not more than twice the limit of 3: each turn's adds go at its end, in order.
    await store.add('chat', 'e', 'c-e');
    await store.add('chat', 'f', 'c-f');
    expect(redis.scripts.map((script) => script.length)).toEqual([4, 1, 1]);
  });

  it('sends a remove that failed again at the next resync, telling no one, until Redis takes it', async () => {
    const { redis, store } = setUp();
    await Promise.all([store.add('chat', 'ann', 'c1'), store.add('chat', 'bob', 'c2')]);
    redis.down = true;
    await expect(store.remove('chat', 'ann', 'c1')).rejects.toThrow(/unreachable/);
    // Still down at the first resync: kept for the next.
    await expect(redis.resync()).rejects.toThrow(/unreachable/);
    redis.down = false;
    redis.scripts.length = 0;
    redis.tellings.length = 0;
    await redis.resync();
    expect(redis.scripts).toEqual([[{ op: 'remove', connectionId: 'c1' }]]);
    expect(redis.tellings).toEqual([undefined]);
    // Taken: not sent again.
    await redis.resync();
    expect(redis.scripts).toHaveLength(1);
    await store.close();
  });

  it('sends a remove that failed during the resync, after its retries were sent, once the resync is done', async () => {
    const { redis, store } = setUp();
    await store.add('chat', 'ann', 'c1');
    await redis.resync();
    redis.scripts.length = 0;
    // Refused while the resync is still under way (the connection not available yet).
    redis.down = true;
    await expect(store.remove('chat', 'ann', 'c1')).rejects.toThrow(/unreachable/);
    redis.down = false;
    redis.resynced();
    await eventually(() => expect(redis.scripts).toEqual([[{ op: 'remove', connectionId: 'c1' }]]));
    await store.close();
  });

  it('splits a window of removes the same way', async () => {
    const { redis, store } = setUp();
    const count = PRESENCE_ENTRIES_PER_SCRIPT + 1;
    await Promise.all(Array.from({ length: count }, (_, i) => store.add('crowd', 'same-user', `c${i}`)));
    redis.scripts.length = 0;
    const changes = await Promise.all(Array.from({ length: count }, (_, i) => store.remove('crowd', 'same-user', `c${i}`)));
    expect(redis.scripts.map((script) => script.length)).toEqual([PRESENCE_ENTRIES_PER_SCRIPT, 1]);
    // Only the last connection's leave is the user's.
    expect(changes.map((change) => change.userChanged)).toEqual([...Array.from({ length: count - 1 }, () => false), true]);
    expect(store.localEntries).toBe(0);
  });

  describe('the timer\'s refresh', () => {
    beforeEach(() => jest.useFakeTimers({ now: 0, doNotFake: ['nextTick', 'setImmediate'] }));
    afterEach(() => jest.useRealTimers());

    it('spreads its slices over the refresh interval, every entry once, and skips entries removed meanwhile', async () => {
      const { redis, store } = setUp();
      const count = 4 * PRESENCE_ENTRIES_PER_SCRIPT;
      await Promise.all(Array.from({ length: count }, (_, i) => store.add('crowd', `u${i}`, `c${i}`)));
      await store.add('chat', 'ann', 'c-ann');
      store.start();
      // presenceRefreshMs is 10 s: five slices (four of crowd, one of chat) would be a second
      // apart over its first half, but are never more than 100 ms apart.
      await jest.advanceTimersByTimeAsync(10_000);
      expect(redis.refreshes.map((refresh) => refresh.atMs)).toEqual([10_000]);
      // Removed while the refresh is under way: the slices sent after it leave it out.
      await store.remove('crowd', `u${count - 1}`, `c${count - 1}`);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(redis.refreshes.map((refresh) => refresh.atMs)).toEqual([10_000, 10_100, 10_200, 10_300, 10_400]);
      expect(redis.refreshes.map((refresh) => refresh.entries)).toEqual([500, 500, 500, 499, 1]);
      // The next round starts on the interval again.
      await jest.advanceTimersByTimeAsync(9_000);
      expect(redis.refreshes.slice(5).map((refresh) => refresh.atMs)).toEqual([20_000]);
      await store.close();
    });

    it('spaces many slices evenly over the first half of the interval', async () => {
      const { redis, store } = setUp();
      // 200 rooms of one slice each: 10 s / 2 / 200 = 25 ms apart.
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.add(`room${i}`, 'ann', `c${i}`)));
      store.start();
      await jest.advanceTimersByTimeAsync(20_000 - 1);
      const firstRound = redis.refreshes.map((refresh) => refresh.atMs);
      expect(firstRound).toEqual(Array.from({ length: 200 }, (_, i) => 10_000 + 25 * i));
      expect(new Set(redis.refreshes.map((refresh) => refresh.room)).size).toBe(200);
      await store.close();
    });

    it('goes on past a room whose shard is silent or whose slice fails, refreshing every other room', async () => {
      const { redis, store } = setUp();
      for (const room of ['a', 'silent', 'b', 'failing', 'c']) await store.add(room, 'ann', `c-${room}`);
      redis.silentRooms.add('silent');
      redis.failingRooms.add('failing');
      store.start();
      await jest.advanceTimersByTimeAsync(15_000);
      expect(redis.refreshes.map((refresh) => /\{(\w+)\}/.exec(refresh.room)?.[1])).toEqual(['a', 'b', 'c']);
      await store.close();
    });

    it('sends nothing more once the store closed mid-refresh', async () => {
      const { redis, store } = setUp();
      await Promise.all(Array.from({ length: 3 * PRESENCE_ENTRIES_PER_SCRIPT }, (_, i) => store.add('crowd', `u${i}`, `c${i}`)));
      store.start();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(redis.refreshes).toHaveLength(1);
      await store.close();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(redis.refreshes).toHaveLength(1);
    });
  });
});
