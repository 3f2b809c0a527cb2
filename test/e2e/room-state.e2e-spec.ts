import { createClient } from 'redis';
import { useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { ServerFrame, TestClient, connectClient } from '../support/ws-client';

/**
 * What rooms leave in Redis once their members are gone: a room's epoch, even one that never
 * carried a message, outlives its last member by HISTORY_TTL_S (a join's seq is a `since` that
 * recovers what is published meanwhile: docs/protocol.md section 9), and nothing longer, but for
 * when its users left, kept for a pod that could not hear the room then (DEPARTURES_KEPT_S). 2,000
 * rooms here: the full 10,000 of 100 connections starved the rest of the suite of CPU.
 */
const CONNECTIONS = 20;
const ROOMS_PER_CONNECTION = 100;
const HISTORY_TTL_S = 600;
/** When each user left a room is kept for ten presence TTLs (2 x HEARTBEAT_MS, 2 s in tests). */
const DEPARTURES_KEPT_S = 10 * 2 * 2;

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
      HISTORY_TTL_S: String(HISTORY_TTL_S),
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

  it('leaves only their epochs, each expiring within HISTORY_TTL_S, for thousands of message-less rooms once their members leave or disconnect', async () => {
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

    // Presence goes with the members, but for when each left (for a pod that could not hear the
    // room then), which outlives them by DEPARTURES_KEPT_S; each room's epoch stays, with a TTL.
    await eventually(async () => expect((await keysMatching('{public:quiet-*')).filter((key) => !key.endsWith(':meta') && !key.endsWith(':presence:departed'))).toEqual([]), 15_000, 100);
    const epochs = (await keysMatching('{public:quiet-*')).filter((key) => key.endsWith(':meta'));
    expect(epochs).toHaveLength(CONNECTIONS * ROOMS_PER_CONNECTION);
    const ttls = await Promise.all(epochs.map((key) => inspector.ttl(key)));
    expect(ttls.filter((ttl) => !(ttl > 0 && ttl <= HISTORY_TTL_S))).toEqual([]);
    const departures = (await keysMatching('{public:quiet-*')).filter((key) => key.endsWith(':presence:departed'));
    const departureTtls = await Promise.all(departures.map((key) => inspector.ttl(key)));
    expect(departureTtls.filter((ttl) => !(ttl > 0 && ttl <= DEPARTURES_KEPT_S))).toEqual([]);
    // The personal rooms of the gone connections never started a life: nothing of theirs is kept.
    await eventually(async () => expect(await keysMatching('{user:quiet*')).toEqual([]), 15_000, 100);
  }, 120_000);

  it('keeps the epoch of every room after its last member left, and never claims continuity for a forgotten one', async () => {
    const member = await connectClient(app.wsUrl, signToken({ sub: 'kept' }));
    const kept = await member.join('public:kept');
    expect((await publish(app.url, { rooms: ['public:kept'], type: 'test', payload: { text: 'm1' } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification');
    const quiet: ServerFrame = await member.join('public:still-quiet');
    await member.request('leave', { room: 'public:kept' });
    await member.request('leave', { room: 'public:still-quiet' });

    // The room with a message keeps its history, the quiet one its epoch, each with a TTL.
    await eventually(async () => {
      expect((await keysMatching('{public:still-quiet}*')).sort()).toEqual([`${prefix}{public:still-quiet}:meta`, `${prefix}{public:still-quiet}:presence:departed`]);
      expect((await keysMatching('{public:kept}*')).sort()).toEqual([`${prefix}{public:kept}:log`, `${prefix}{public:kept}:meta`, `${prefix}{public:kept}:presence:departed`]);
    });
    for (const key of [...(await keysMatching('{public:kept}*')), ...(await keysMatching('{public:still-quiet}*'))]) {
      expect(await inspector.ttl(key)).toBeGreaterThan(0);
    }
    expect((await member.join('public:kept', kept.data.seq)).data).toMatchObject({ recovered: true, missed: 1 });
    expect((await publish(app.url, { rooms: ['public:still-quiet'], type: 'test', payload: { text: 'while away' } })).status).toBe(202);
    expect((await member.join('public:still-quiet', quiet.data.seq)).data).toMatchObject({ recovered: true, missed: 1 });
    const latest = (await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'while away')).data.seq;
    await member.request('leave', { room: 'public:still-quiet' });

    // The epoch is lost (expired, or with Redis's data): a seq of it must not claim continuity.
    await inspector.del(`${prefix}{public:still-quiet}:meta`);
    expect((await publish(app.url, { rooms: ['public:still-quiet'], type: 'test', payload: { text: 'missed' } })).status).toBe(202);
    expect((await member.join('public:still-quiet', latest)).data).toMatchObject({ recovered: false });
    await member.close();
  });

  it('recovers through another pod what was published to a message-less room after the pod that handed out its seq let it go', async () => {
    const other = await createTestApp(broker.env());
    const room = 'public:across-pods';
    try {
      const first = await connectClient(app.wsUrl, signToken({ sub: 'ann' }));
      const { data } = await first.join(room);
      await first.request('leave', { room });
      // Nobody follows the room any more, on any pod.
      await eventually(async () => expect(await inspector.pubSubNumSub(`${prefix}room:${room}`)).toEqual({ [`${prefix}room:${room}`]: 0 }));
      for (let i = 0; i < 3; i++) expect((await publish(other.url, { rooms: [room], type: 'test', payload: { i } })).status).toBe(202);
      const second = await connectClient(other.wsUrl, signToken({ sub: 'ann' }));
      expect((await second.request('join', { room, since: data.seq })).data).toEqual({ room, seq: expect.any(String), recovered: true, missed: 3 });
      await eventually(() => expect(second.all('notification').map((frame) => frame.data.payload.i)).toEqual([0, 1, 2]));
      await Promise.all([first.close(), second.close()]);
    } finally {
      await other.close();
    }
  });

  it('tells a live member to recover when a room it is in begins a new life in a failover (REDIS_MIN_REPLICAS=0)', async () => {
    // REDIS_URL alone, so REDIS_MIN_REPLICAS is 0: a failover may lose acknowledged writes.
    const room = 'public:failed-over';
    const member = await connectClient(app.wsUrl, signToken({ sub: 'ivo' }));
    await member.join(room);
    expect((await publish(app.url, { rooms: [room], type: 'test', payload: { text: 'before' } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'before');
    // As a promoted replica sees the room: last written in another replication history (INFO's
    // master_replid), so the next publish starts a new life, and what the old primary held past
    // its replica's copy is gone.
    await inspector.hSet(`${prefix}{${room}}:meta`, 'replid', 'a-replication-history-before-the-failover');
    expect((await publish(app.url, { rooms: [room], type: 'test', payload: { text: 'after' } })).status).toBe(202);
    const after = await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'after');
    const events = member.frames.filter((frame) => frame.data?.room === room).map((frame) => (frame.event === 'notification' ? frame.data.payload.text : frame.event));
    expect(events).toEqual(['joined', 'before', 'recovery', 'after']);
    expect(member.frames.find((frame) => frame.event === 'recovery')?.data).toMatchObject({ room, recovered: false });
    expect(after.data.seq.split('-')[0]).not.toBe(member.frames.find((frame) => frame.data?.payload?.text === 'before')!.data.seq.split('-')[0]);
    await member.close();
  });
});
