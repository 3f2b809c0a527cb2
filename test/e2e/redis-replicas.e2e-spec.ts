import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { http, publish } from '../support/http';
import { RedisProcess, redisCli, spawnRedisProcess } from '../support/redis-process';
import { RedisServer, startRedis } from '../support/redis-server';
import { expectRejoin } from '../support/rejoin';
import { createTestApp, TestApp } from '../support/test-app';
import { TcpRelay, startTcpRelay } from '../support/tcp-relay';
import { signToken } from '../support/tokens';
import { connectClient, openClient } from '../support/ws-client';

/**
 * REDIS_MIN_REPLICAS on a single server (REDIS_URL): a publish is acknowledged only once a
 * replica holds it. A primary without a replica refuses (503, counted), and the publisher's
 * retry with the same id is delivered once when a replica is back.
 */
describe('publishes that wait for replicas', () => {
  let primary: RedisServer;
  let replica: RedisProcess | undefined;
  let pod: TestApp;
  const prefix = `t${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    primary = await startRedis();
    // A second of grace: a replica on a busy machine can take a few hundred ms to acknowledge.
    pod = await createTestApp({ REDIS_URL: primary.url, REDIS_PREFIX: prefix, REDIS_MIN_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '1000' });
  });
  afterAll(async () => {
    await pod?.close();
    await replica?.stop();
    await primary?.stop();
  });

  it('answers 503 while no replica acknowledges, then 202 for the retry with the same id, delivered once', async () => {
    const room = 'public:replicated';
    const member = await connectClient(pod.wsUrl, signToken({ sub: 'member' }));
    await member.join(room);
    const id = randomUUID();
    const body = { id, rooms: [room], type: 'test', payload: { text: 'kept' } };

    const warnings = jest.spyOn(Logger.prototype, 'warn');
    const waitsSent = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await redisCli(primary.port, ['INFO', 'commandstats']))?.[1] ?? 0);
    const refused = await publish(pod.url, body);
    expect(refused.status).toBe(503);
    // No replica is connected (ROLE): no WAIT is sent to hold the connection for a whole period.
    expect(await publish(pod.url, { ...body, id: randomUUID(), payload: { text: 'refused at once' } })).toMatchObject({ status: 503 });
    expect(await waitsSent()).toBe(0);
    // The log says why, with how many replicas acknowledged and how many are asked for.
    expect(warnings.mock.calls.flat()).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/^Publishes answered 503: fewer replicas/), replicas: 0, minReplicas: 1, refused: 1 }));
    warnings.mockRestore();
    // Stored on the primary but not replicated: the answer does not claim it was not stored.
    expect(refused.body.message).toMatch(/could not confirm the request \(fewer replicas than REDIS_MIN_REPLICAS acknowledged it in time\).*same id/);
    expect(await (await fetch(`${pod.url}/metrics`)).text()).toMatch(/herald_publishes_refused_replicas_total 2\b/);
    // A chat message likewise, which has no id to retry by: its error says to look before sending it again.
    const chat = await member.request('message', { room, text: 'unconfirmed' });
    expect(chat.data).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/could not confirm the message \(fewer replicas than REDIS_MIN_REPLICAS.*may have reached the room.*before sending it again/) });
    await member.waitFor((frame) => frame.event === 'message' && frame.data.text === 'unconfirmed');
    // Counted as the notifications are: once each.
    expect(await (await fetch(`${pod.url}/metrics`)).text()).toMatch(/herald_publishes_refused_replicas_total 3\b/);

    expect(await waitsSent()).toBe(0);
    await startReplica();

    expect((await publish(pod.url, body)).status).toBe(202);
    expect(await waitsSent()).toBe(1);
    expect((await publish(pod.url, { ...body, id: randomUUID(), payload: { text: 'second' } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'second');
    // The refused attempts were stored on the primary (and reached the member); the retry found the first.
    expect(member.all('notification').map((frame) => frame.data.payload.text)).toEqual(['kept', 'refused at once', 'second']);
    await member.close();
  });

  it('carries live members into the life a failover starts where it took over at their last notification, recovers rejoins from the old life up to there, and tells recovery where they had one more', async () => {
    await startReplica();
    const room = 'public:failed-over';
    const meta = `${prefix}{${room}}:meta`;
    const member = await connectClient(pod.wsUrl, signToken({ sub: 'through-failover' }));
    const joinedAt = (await member.join(room)).data.seq as string;
    const send = async (text: string) => expect((await publish(pod.url, { rooms: [room], type: 'test', payload: { text } })).status).toBe(202);
    const received = async (text: string) => (await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === text)).data.seq as string;
    const events = () =>
      member.frames.filter((frame) => frame.data?.room === room && frame.event !== 'presence').map((frame) => (frame.event === 'notification' ? frame.data.payload.text : frame.event));
    await send('before');
    const before = await received('before');
    // As a promoted replica sees the room: last written in the replication history it continued
    // (its master_replid2, all zeros on a primary that never was a replica), so the next publish
    // starts a new life; this one held the old life whole.
    await writtenInTheHistoryContinued(meta);
    await send('after');
    const after = await received('after');
    expect(after.split('-')[0]).not.toBe(before.split('-')[0]);
    expect(events()).toEqual(['joined', 'before', 'after']);
    // A client away through the failover, back with the seq where the new life took over:
    // nothing missing but the new life, from its start.
    await expectRejoin(pod.wsUrl, room, before, { recovered: true, missed: ['after'] });
    // From further back in the old life: its rest (kept in history with the new life), then the new life.
    await expectRejoin(pod.wsUrl, room, joinedAt, { recovered: true, missed: ['before', 'after'] });

    // The old primary delivered `lost`, answered 503, and died before its replica had it: the
    // promoted replica's copy of the life ends at `after`, and the publisher's retry opens the next.
    await send('lost');
    const lost = await received('lost');
    await redisCli(primary.port, ['LPOP', `${prefix}{${room}}:log`]);
    await redisCli(primary.port, ['HSET', meta, 'position', String(Number(after.split('-')[1]))]);
    await writtenInTheHistoryContinued(meta);
    await send('lost');
    await eventually(() => expect(events()).toEqual(['joined', 'before', 'after', 'lost', 'recovery', 'lost']));
    await expectRejoin(pod.wsUrl, room, after, { recovered: true, missed: ['lost'] });
    // From the write the failover lost, or from two lives back: the client reloads.
    await expectRejoin(pod.wsUrl, room, lost, { recovered: false, missed: [] });
    await expectRejoin(pod.wsUrl, room, before, { recovered: false, missed: [] });

    // A primary restarted from its RDB or AOF continues no history the room was written in, and
    // may have lost acknowledged writes: its new life proves nothing.
    const retried = member.all('notification').at(-1)!.data.seq as string;
    await redisCli(primary.port, ['HSET', meta, 'replid', 'a-history-before-a-restart-from-disk']);
    await send('after the restart');
    await eventually(() => expect(events().slice(-2)).toEqual(['recovery', 'after the restart']));
    await expectRejoin(pod.wsUrl, room, retried, { recovered: false, missed: [] });
    await member.close();
  });

  it('answers a rejoin from where a new life took over recovered: false with REDIS_MIN_REPLICAS=0, where a failover may lose acknowledged writes', async () => {
    const unreplicated = await createTestApp({ REDIS_URL: primary.url, REDIS_PREFIX: prefix, REDIS_MIN_REPLICAS: '0' });
    try {
      const room = 'public:failed-over-unreplicated';
      const send = async (text: string) => expect((await publish(unreplicated.url, { rooms: [room], type: 'test', payload: { text } })).status).toBe(202);
      await send('before');
      const member = await connectClient(unreplicated.wsUrl, signToken({ sub: 'unreplicated' }));
      const before = (await member.join(room)).data.seq as string;
      await member.close();
      await writtenInTheHistoryContinued(`${prefix}{${room}}:meta`);
      await send('after');
      await expectRejoin(unreplicated.wsUrl, room, before, { recovered: false, missed: [] });
    } finally {
      await unreplicated.close();
    }
  });

  /** Marks a room as last written in the replication history the primary continued (INFO's master_replid2). */
  async function writtenInTheHistoryContinued(meta: string): Promise<void> {
    const continued = /master_replid2:(\w+)/.exec(await redisCli(primary.port, ['INFO', 'replication']))![1];
    await redisCli(primary.port, ['HSET', meta, 'replid', continued]);
  }


  it('shares one WAIT among concurrent publishes instead of queueing a WAIT per publish on the connection', async () => {
    const room = 'public:shared-waits';
    const member = await connectClient(pod.wsUrl, signToken({ sub: 'waits-member' }));
    await member.join(room);
    await replica!.stop();
    replica = undefined;
    const waitsBefore = await waitCalls();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => publish(pod.url, { id: randomUUID(), rooms: [room], type: 'test', payload: { text: `p${i}` } })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(503));
    // Each WAIT holds the connection REDIS_REPLICA_WAIT_MS: ten, one per publish, held it ten
    // seconds. A few: the publishes' id claims and writes queue behind the WAIT out, and come
    // back together to share the next one.
    expect((await waitCalls()) - waitsBefore).toBeLessThanOrEqual(5);
    // The connection goes on serving everything else.
    expect((await member.join('public:other')).event).toBe('joined');
    await member.close();
  });

  /** Starts the primary's replica, unless it runs, and waits until it is in sync. */
  async function startReplica(): Promise<void> {
    if (replica) return;
    const port = await freePort();
    // --dir: a replica writes the RDB it receives from the primary there.
    replica = await spawnRedisProcess(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--replicaof', '127.0.0.1', String(primary.port)], port);
    await eventually(async () => expect(await redisCli(port, ['INFO', 'replication'])).toContain('master_link_status:up'), 10_000);
    // The primary lists it (ROLE, which a pod asks before it waits for replicas) once it has its
    // first acknowledgement, a moment after the replica says its link is up: on a busy machine a
    // publish sent in between was refused for want of a replica.
    await eventually(async () => expect(await redisCli(primary.port, ['INFO', 'replication'])).toMatch(/slave0:.*state=online/), 10_000);
  }

  /** How many WAITs the primary has run. */
  async function waitCalls(): Promise<number> {
    const stats = await redisCli(primary.port, ['INFO', 'commandstats']);
    return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  }
});

/** REDIS_URL's server demoted to a replica in place (a manual role swap, a managed service's failover behind one address). */
describe('a REDIS_URL server that turns replica', () => {
  let server: RedisServer;
  let other: RedisServer;
  let pod: TestApp;

  beforeAll(async () => {
    [server, other] = [await startRedis(), await startRedis()];
    pod = await createTestApp({ REDIS_URL: server.url, REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:` });
  });
  afterAll(async () => {
    await pod?.close();
    await Promise.all([server?.stop(), other?.stop()]);
  });

  const readyz = async (app: TestApp) => (await http('GET', `${app.url}/readyz`)).status;
  /** Makes `demoted` a replica of `primary`, in place, and waits until it follows it. */
  const demote = async (demoted: RedisServer, primary: RedisServer) => {
    // The full sync starts at once instead of after Redis's default 5 s wait for more replicas.
    await primary.configSet('repl-diskless-sync-delay', '0');
    await redisCli(demoted.port, ['REPLICAOF', '127.0.0.1', String(primary.port)]);
    await eventually(async () => expect(await redisCli(demoted.port, ['INFO', 'replication'])).toContain('master_link_status:up'), 10_000);
  };

  it('counts as down while it refuses writes (readyz 503, new connections 1013), and serves again once it is a primary', async () => {
    const member = await connectClient(pod.wsUrl, signToken({ sub: 'rita' }));
    await member.join('public:demoted');
    expect((await publish(pod.url, { rooms: ['public:demoted'], type: 't', payload: { n: 1 } })).status).toBe(202);

    await demote(server, other);
    // The first refused write tells the pod: it stops taking work instead of failing every call while ready.
    expect((await publish(pod.url, { rooms: ['public:demoted'], type: 't', payload: { n: 2 } })).status).toBe(503);
    await eventually(async () => expect(await readyz(pod)).toBe(503), 5_000);
    const refused = await openClient(pod.wsUrl, signToken({ sub: 'newcomer' }));
    expect(await refused.closed).toEqual({ code: 1013, reason: 'try_again_later' });

    await redisCli(server.port, ['REPLICAOF', 'NO', 'ONE']);
    await eventually(async () => expect(await readyz(pod)).toBe(200), 15_000);
    expect((await publish(pod.url, { rooms: ['public:demoted'], type: 't', payload: { n: 3 } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.n === 3);
    expect(member.closeInfo).toBeUndefined();
    await member.close();
  }, 40_000);

  /**
   * A managed service's failover: the endpoint (here a relay standing for its DNS name) moves to
   * the new primary while the demoted server keeps the pod's connections open. The pod finds the
   * new primary on a new connection; it never waits for the old server to be promoted again.
   */
  describe('behind an endpoint that moves to the new primary', () => {
    let endpoint: TcpRelay;
    let moved: TestApp;
    let [oldPrimary, newPrimary]: RedisServer[] = [];

    beforeAll(async () => {
      [oldPrimary, newPrimary] = [await startRedis(), await startRedis()];
      endpoint = await startTcpRelay(oldPrimary.port);
      moved = await createTestApp({ REDIS_URL: endpoint.url, REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:` });
    });
    afterAll(async () => {
      await moved?.close();
      await endpoint?.close();
      await Promise.all([oldPrimary?.stop(), newPrimary?.stop()]);
    });

    it('follows the endpoint to the new primary and delivers again, with the old server still a replica', async () => {
      const member = await connectClient(moved.wsUrl, signToken({ sub: 'mia' }));
      await member.join('public:moved');
      expect((await publish(moved.url, { rooms: ['public:moved'], type: 't', payload: { n: 1 } })).status).toBe(202);

      endpoint.moveTo(newPrimary.port);
      await demote(oldPrimary, newPrimary);
      // A write the old server refuses tells the pod (a presence refresh may have told it already).
      expect([202, 503]).toContain((await publish(moved.url, { rooms: ['public:moved'], type: 't', payload: { n: 2 } })).status);

      await eventually(async () => expect(await readyz(moved)).toBe(200), 15_000);
      expect(await redisCli(oldPrimary.port, ['ROLE'])).toContain('slave');
      // The member's room was followed again on the new primary: its publishes reach it.
      await eventually(async () => expect((await publish(moved.url, { rooms: ['public:moved'], type: 't', payload: { n: 3 } })).status).toBe(202), 5_000);
      await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.n === 3);
      await member.close();
    }, 40_000);
  });
});
