import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { BrokerUnavailableError } from '../broker';
import { BatchWindow } from './batch-window';
import type { RedisCommands } from './redis.connection';
import { RoomLives } from './room.lives';

/** Records each heraldExtendRoomLives call a RoomLives makes: the meta keys and TTL it sent. */
function recordingConnection(failure: () => Error | undefined = () => undefined) {
  const calls: Array<{ metaKeys: readonly string[]; historyTtlS: number }> = [];
  const redis = {
    heraldExtendRoomLives: async (metaKeys: readonly string[], historyTtlS: number) => {
      calls.push({ metaKeys, historyTtlS });
      const error = failure();
      if (error) throw error;
      return metaKeys.length;
    },
  } as unknown as RedisCommands;
  return { calls, connection: { run: <T>(_operation: string, command: (commands: RedisCommands) => Promise<T>) => command(redis) } };
}

/** One Redis: every room may share a call. */
const ONE_REDIS = () => 0;

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('RoomLives', () => {
  it('extends every room asked for in one batch window with one call, 500 rooms at most per call', async () => {
    const { calls, connection } = recordingConnection();
    const window = new BatchWindow(0);
    const lives = new RoomLives(connection, window, { historyTtlS: 600, groupOf: ONE_REDIS });
    const rooms = Array.from({ length: 1200 }, (_, index) => `{room${index}}:meta`);
    for (const meta of rooms) lives.extend(meta);
    expect(calls).toEqual([]);
    await settled();
    expect(calls.map((call) => call.metaKeys.length)).toEqual([500, 500, 200]);
    expect(calls.flatMap((call) => call.metaKeys)).toEqual(rooms);
    expect(calls.every((call) => call.historyTtlS === 600)).toBe(true);
    // The next window is a batch of its own.
    lives.extend('{late}:meta');
    await settled();
    expect(calls.at(-1)!.metaKeys).toEqual(['{late}:meta']);
  });

  it('sends the rooms of one slot together and the others apart where rooms live in slots of their own (a Cluster)', async () => {
    const { calls, connection } = recordingConnection();
    const lives = new RoomLives(connection, new BatchWindow(0), { historyTtlS: 60, groupOf: calculateSlot });
    // Two rooms with one hash tag, so one slot; two in others.
    for (const meta of ['{a}:meta', '{b}:meta', '{a}x:meta', '{c}:meta']) lives.extend(meta);
    await settled();
    expect(calls.map((call) => call.metaKeys)).toEqual([['{a}:meta', '{a}x:meta'], ['{b}:meta'], ['{c}:meta']]);
  });

  it("lets a failed call go (the room's key then expires, as its TTL says) and extends again in the next window", async () => {
    let failure: Error | undefined = new BrokerUnavailableError();
    const { calls, connection } = recordingConnection(() => failure);
    const lives = new RoomLives(connection, new BatchWindow(0), { historyTtlS: 60, groupOf: calculateSlot });
    lives.extend('{a}:meta');
    lives.extend('{b}:meta');
    await settled();
    failure = undefined;
    lives.extend('{a}:meta');
    await settled();
    expect(calls.map((call) => call.metaKeys)).toEqual([['{a}:meta'], ['{b}:meta'], ['{a}:meta']]);
  });

  describe('extendAll (the timer\'s round over every followed room)', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] }));
    afterEach(() => jest.useRealTimers());

    const metas = (count: number, prefix = 'room') => Array.from({ length: count }, (_, index) => `{${prefix}${index}}:meta`);

    /** RoomLives on one Redis, a window per turn, and the calls it makes. */
    const onOneRedis = () => {
      const { calls, connection } = recordingConnection();
      return { calls, lives: new RoomLives(connection, new BatchWindow(0), { historyTtlS: 600, groupOf: ONE_REDIS }) };
    };

    it('sends the rooms 100 at a time, 100 ms apart at most, every room once and in order', async () => {
      const { calls, lives } = onOneRedis();
      const rooms = metas(250);
      lives.extendAll(rooms, 100_000);
      await settled();
      expect(calls.map((call) => call.metaKeys.length)).toEqual([100]);
      jest.advanceTimersByTime(99);
      await settled();
      expect(calls).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await settled();
      expect(calls.map((call) => call.metaKeys.length)).toEqual([100, 100]);
      jest.advanceTimersByTime(100);
      await settled();
      expect(calls.map((call) => call.metaKeys.length)).toEqual([100, 100, 50]);
      expect(calls.flatMap((call) => call.metaKeys)).toEqual(rooms);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('ends within the time it is given when the slices are many', async () => {
      const { calls, lives } = onOneRedis();
      const rooms = metas(1000);
      lives.extendAll(rooms, 200);
      await settled();
      for (let slice = 1; slice < 10; slice++) {
        jest.advanceTimersByTime(20);
        await settled();
      }
      expect(calls.flatMap((call) => call.metaKeys)).toEqual(rooms);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('on a Cluster, makes about one call per room of a slice rather than one per followed room at once', async () => {
      const { calls, connection } = recordingConnection();
      const lives = new RoomLives(connection, new BatchWindow(0), { historyTtlS: 600, groupOf: calculateSlot });
      lives.extendAll(metas(5000, 'user:'), 100_000);
      await settled();
      expect(calls.length).toBeGreaterThan(90);
      expect(calls.length).toBeLessThanOrEqual(100);
      lives.close();
    });

    it('gives way to the next round, which holds every room the last one had left', async () => {
      const { calls, lives } = onOneRedis();
      lives.extendAll(metas(300, 'old'), 100_000);
      await settled();
      lives.extendAll(metas(150, 'new'), 100_000);
      await settled();
      jest.advanceTimersByTime(1000);
      await settled();
      expect(calls.map((call) => call.metaKeys)).toEqual([metas(100, 'old'), metas(100, 'new'), metas(150, 'new').slice(100)]);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('sends nothing more once closed', async () => {
      const { calls, lives } = onOneRedis();
      lives.extendAll(metas(300), 100_000);
      await settled();
      lives.close();
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(1000);
      await settled();
      expect(calls.map((call) => call.metaKeys.length)).toEqual([100]);
    });
  });
});
