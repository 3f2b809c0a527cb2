import { createClient } from 'redis';
import { useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { ServerFrame, TestClient, connectClient } from '../support/ws-client';

/**
 * Joining rooms that never carry a message must not leave state behind in Redis once their
 * members are gone (100 connections used to leave 10,000 keys for HISTORY_TTL_S). 2,000 rooms
 * here: the cleanup is per room, and the full 10,000 starved the rest of the suite of CPU.
 */
const CONNECTIONS = 20;
const ROOMS_PER_CONNECTION = 100;

describe('room state in Redis', () => {
  const broker = useBroker('redis');
  let app: TestApp;
  let inspector: ReturnType<typeof createClient>;
  let prefix: string;

  beforeAll(async () => {
    const env = broker.env();
    prefix = env.REDIS_PREFIX;
    app = await createTestApp({
      ...env,
      RATE_LIMIT_PER_S: '100000',
      // One more room than joined: the personal room counts too.
      MAX_ROOMS_PER_CONNECTION: String(ROOMS_PER_CONNECTION + 1),
      // A generous deadline: thousands of joins on a busy test machine are about keys, not latency.
      REDIS_COMMAND_TIMEOUT_MS: '20000',
    });
    inspector = createClient({ url: broker.redis!.url });
    inspector.on('error', () => undefined); // Only used while Redis is up.
    await inspector.connect();
  });
  afterAll(async () => {
    await inspector.close();
    await app.close();
  });

  /** Keys under the test's prefix, counted with SCAN (never KEYS on a real Redis). */
  async function keysMatching(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const batch of inspector.scanIterator({ MATCH: `${prefix}${pattern}`, COUNT: 1000 })) keys.push(...batch);
    return keys;
  }

  it('leaves no per-room keys for thousands of message-less rooms once their members leave or disconnect', async () => {
    const clients: TestClient[] = [];
    for (let index = 0; index < CONNECTIONS; index++) clients.push(await connectClient(app.wsUrl, signToken({ sub: `quiet${index}` })));
    // Every connection at once, each joining one room after another.
    await Promise.all(
      clients.map(async (client, index) => {
        for (let room = 0; room < ROOMS_PER_CONNECTION; room++) {
          expect((await client.request('join', { room: `public:quiet-${index}-${room}` }, 30_000)).event).toBe('joined');
        }
      }),
    );
    // While members are in, each room has state (its epoch, its presence): the count below is not vacuous.
    expect((await keysMatching('{public:quiet-*')).length).toBeGreaterThanOrEqual(CONNECTIONS * ROOMS_PER_CONNECTION);

    // Half leave room by room, half just disconnect.
    const [leaving, disconnecting] = [clients.slice(0, CONNECTIONS / 2), clients.slice(CONNECTIONS / 2)];
    await Promise.all(
      leaving.map(async (client, index) => {
        for (let room = 0; room < ROOMS_PER_CONNECTION; room++) {
          expect((await client.request('leave', { room: `public:quiet-${index}-${room}` }, 30_000)).event).not.toBe('error');
        }
      }),
    );
    await Promise.all(disconnecting.map((client) => client.close()));
    await Promise.all(leaving.map((client) => client.close()));

    await eventually(async () => expect(await keysMatching('{public:quiet-*')).toEqual([]), 15_000, 100);
    // The personal rooms of the gone connections went too.
    await eventually(async () => expect(await keysMatching('{user:quiet*')).toEqual([]), 15_000, 100);
  }, 120_000);

  it('keeps a room with history for HISTORY_TTL_S, and never claims continuity for a forgotten epoch', async () => {
    const member = await connectClient(app.wsUrl, signToken({ sub: 'kept' }));
    const kept = await member.join('public:kept');
    expect((await publish(app.url, { rooms: ['public:kept'], type: 'test', payload: { text: 'm1' } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification');
    const quiet: ServerFrame = await member.join('public:still-quiet');
    await member.request('leave', { room: 'public:kept' });
    await member.request('leave', { room: 'public:still-quiet' });

    // The room with a message keeps its history (with a TTL); the quiet one is gone.
    await eventually(async () => expect(await keysMatching('{public:still-quiet}*')).toEqual([]));
    const keptKeys = await keysMatching('{public:kept}*');
    expect(keptKeys.sort()).toEqual([`${prefix}{public:kept}:history`, `${prefix}{public:kept}:meta`]);
    for (const key of keptKeys) expect(await inspector.ttl(key)).toBeGreaterThan(0);
    const replay = await member.join('public:kept', kept.data.seq);
    expect(replay.data).toMatchObject({ recovered: true, missed: 1 });

    // A message arrives in the forgotten room: its old seq must not claim continuity.
    expect((await publish(app.url, { rooms: ['public:still-quiet'], type: 'test', payload: { text: 'missed' } })).status).toBe(202);
    const rejoined = await member.join('public:still-quiet', quiet.data.seq);
    expect(rejoined.data).toMatchObject({ recovered: false });
    await member.close();
  });
});
