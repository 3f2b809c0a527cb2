import { createClient } from 'redis';
import { ROOM_SCRIPTS } from '../../src/broker/redis/room.scripts';
import { RedisKeys } from '../../src/broker/redis/redis-keys';
import { RedisServer, startRedis } from '../support/redis-server';

/**
 * The history script told by a pod's catch-up the last position it delivered (HISTORY, room.scripts.ts):
 * a room whose history stands before it in that life lost writes. Driven directly, on one
 * Redis, in both of the script's modes: reads may start lives (one Redis, Sentinel) or not (a Cluster).
 */
describe('a room whose history stands before a position a pod delivered', () => {
  let redis: RedisServer;
  let client: ReturnType<typeof createClient<Record<string, never>, Record<string, never>, typeof ROOM_SCRIPTS>>;
  beforeAll(async () => {
    redis = await startRedis();
    client = createClient({ url: redis.url, scripts: ROOM_SCRIPTS });
    await client.connect();
  });
  afterAll(async () => {
    await client.quit();
    await redis.stop();
  });

  /** A room in life `e1`, positions 1 to 3 in its history, as a Redis restarted from an older snapshot holds it. */
  async function roomAtThree(name: string) {
    const keys = new RedisKeys(`lost-${name}:`);
    const room = { meta: keys.meta('public:r'), history: keys.history('public:r'), legacyStream: keys.legacyHistoryStream('public:r') };
    const now = Date.now();
    await client.hSet(room.meta, { epoch: 'e1', position: 3 });
    for (const position of [1, 2, 3]) await client.lPush(room.history, `e1 ${position} ${now} notification {"n":${position}}`);
    return room;
  }
  const window = (readsStartLives: boolean) => ({ historySize: 100, historyTtlS: 600, epochSuffix: 'abcd', readsStartLives });

  it.each([
    ['reads may start lives: a new life begins at once, after the old one', true],
    ['reads start no life (a Cluster): the life recovers nothing from then on', false],
  ])('answers no since from before the loss recovered; %s', async (_, readsStartLives) => {
    const room = await roomAtThree(String(readsStartLives));
    // Before any pod said otherwise: a since of 1 reads 2 and 3.
    expect((await client.heraldHistory(room, { epoch: 'e1', position: 1 }, window(readsStartLives)))?.entries).toHaveLength(2);
    // A pod delivered position 5 of e1: 4 and 5 are lost.
    const told = await client.heraldHistory(room, undefined, window(readsStartLives), { epoch: 'e1', position: 5 });
    const afterwards = await client.heraldHistory(room, { epoch: 'e1', position: 1 }, window(readsStartLives));
    expect(afterwards?.entries).toBeUndefined();
    if (readsStartLives) {
      expect(told?.epoch).not.toBe('e1');
      expect(told?.latestPosition).toBe(0);
    } else {
      expect(told).toMatchObject({ epoch: 'e1', latestPosition: 3 });
    }
  });

  it('changes nothing when the history stands at or past what the pod delivered, or in another life', async () => {
    const room = await roomAtThree('kept');
    for (const delivered of [{ epoch: 'e1', position: 3 }, { epoch: 'e1', position: 2 }, { epoch: 'e0', position: 9 }]) {
      for (const readsStartLives of [true, false]) {
        expect(await client.heraldHistory(room, undefined, window(readsStartLives), delivered)).toMatchObject({ epoch: 'e1', latestPosition: 3 });
      }
    }
    expect((await client.heraldHistory(room, { epoch: 'e1', position: 1 }, window(false)))?.entries).toHaveLength(2);
  });
});
