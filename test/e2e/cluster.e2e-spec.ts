import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { SpawnedServer, spawnServer } from '../support/spawned-server';
import { RedisServer, startRedis } from '../support/redis-server';
import { closeOpenApps, createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { ServerFrame, TestClient, connectClient, openClient } from '../support/ws-client';

/*
 * Several Herald pods sharing one private Redis (section 7): a client may connect to any pod
 * and sees what it would see on a single pod.
 */

/**
 * The pods' heartbeat. The pods and their clients share this process, so a stall of it delays
 * the clients' pongs as much as the pods' judging: at 300 ms a 600 ms stall (a burst of
 * concurrent publishes beside other suites on a busy machine) had a pod drop a live client
 * (1006). Only the test that waits on the heartbeat (a killed pod's presence expiring) beats
 * every QUICK_HEARTBEAT_MS.
 */
const POD_HEARTBEAT_MS = 2000;
const QUICK_HEARTBEAT_MS = 300;
const HISTORY_SIZE = 50;
const POD_ENV = { HEARTBEAT_MS: String(POD_HEARTBEAT_MS), HISTORY_SIZE: String(HISTORY_SIZE) };
const QUICK_HEARTBEAT_ENV = { ...POD_ENV, HEARTBEAT_MS: String(QUICK_HEARTBEAT_MS) };
const user = (sub: string) => signToken({ sub });
const seqOf = (frame: ServerFrame) => frame.data.seq as string;
const notify = (pod: TestApp | SpawnedServer, room: string, text: string, id?: string) =>
  publish(pod.url, { rooms: [room], type: 'test', payload: { text }, ...(id === undefined ? {} : { id }) });

/** Every `event` frame for `room` received so far. */
const framesIn = (client: TestClient, room: string, event = 'notification') =>
  client.all(event).filter((frame) => frame.data.room === room);

async function closeAll(clients: TestClient[]): Promise<void> {
  await Promise.all(clients.map((client) => client.close()));
}

describe('a cluster of pods on one Redis', () => {
  const broker = useBroker('redis');
  let pods: TestApp[];
  let a: TestApp;
  let b: TestApp;
  let c: TestApp;

  beforeAll(async () => {
    pods = await Promise.all([0, 1, 2].map(() => createTestApp({ ...broker.env(), ...POD_ENV })));
    [a, b, c] = pods;
  });
  afterAll(() => Promise.all(pods.map((pod) => pod.close())));

  it('delivers an HTTP publish on pod A to members on A, B and C, once each', async () => {
    const members = await Promise.all([a, b, c].map((pod, index) => connectClient(pod.wsUrl, user(`fan${index}`))));
    for (const member of members) await member.join('public:fanout');
    expect((await notify(a, 'public:fanout', 'one')).status).toBe(202);
    expect((await notify(a, 'public:fanout', 'two')).status).toBe(202);
    for (const member of members) {
      await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'two');
      expect(framesIn(member, 'public:fanout').map((frame) => frame.data.payload.text)).toEqual(['one', 'two']);
    }
    const seqs = members.map((member) => framesIn(member, 'public:fanout').map(seqOf));
    expect(seqs[1]).toEqual(seqs[0]);
    expect(seqs[2]).toEqual(seqs[0]);
    await closeAll(members);
  });

  it('gives every member the same order and seqs under concurrent publishers on every pod, and replays exactly after the k-th', async () => {
    const room = 'public:order';
    const members = await Promise.all([a, b, c].map((pod, index) => connectClient(pod.wsUrl, user(`order${index}`))));
    for (const member of members) await member.join(room);
    const perSource = 8;
    await Promise.all([
      // Chat messages from a member on every pod, without waiting for acks...
      ...members.map(async (member, index) => {
        const acks = Array.from({ length: perSource }, (_, n) => member.request('message', { room, text: `chat-${index}-${n}` }));
        for (const ack of await Promise.all(acks)) expect(ack.event).toBe('ack');
      }),
      // ...and HTTP publishes on two pods at the same time.
      ...[a, b].map(async (pod, index) => {
        const results = await Promise.all(Array.from({ length: perSource }, (_, n) => notify(pod, room, `http-${index}-${n}`)));
        for (const result of results) expect(result.status).toBe(202);
      }),
    ]);
    const total = perSource * 5;
    const streamOf = (client: TestClient) =>
      client.frames.filter((frame) => (frame.event === 'message' || frame.event === 'notification') && frame.data.room === room);
    await eventually(() => members.forEach((member) => expect(streamOf(member)).toHaveLength(total)));
    const reference = streamOf(members[0]).map(seqOf);
    for (const member of members) expect(streamOf(member).map(seqOf)).toEqual(reference);
    expect([...reference].sort()).toEqual(reference);
    expect(new Set(reference).size).toBe(total);

    const k = 17;
    const latecomer = await connectClient(c.wsUrl, user('late'));
    const joined = await latecomer.join(room, reference[k - 1]);
    expect(joined.data).toMatchObject({ room, seq: reference[total - 1], recovered: true, missed: total - k });
    await eventually(() => expect(streamOf(latecomer)).toHaveLength(total - k));
    expect(streamOf(latecomer).map(seqOf)).toEqual(reference.slice(k));
    await closeAll([...members, latecomer]);
  });

  it('announces one join for two tabs of a user on two pods, one leave after both close, and counts across pods', async () => {
    const room = 'public:presence';
    const watcher = await connectClient(a.wsUrl, user('watcher'));
    await watcher.join(room);
    const tab1 = await connectClient(b.wsUrl, user('pat'));
    const tab2 = await connectClient(c.wsUrl, user('pat'));
    await tab1.join(room);
    await tab2.join(room);
    expect((await watcher.next('presence')).data).toMatchObject({ room, user: 'pat', status: 'joined' });

    const presence = await http('GET', `${b.url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect(presence.status).toBe(200);
    expect(presence.body.users.sort()).toEqual(['pat', 'watcher']);
    expect(presence.body.connections).toBe(3);

    await tab1.close();
    await eventually(async () => expect((await http('GET', `${c.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body.connections).toBe(2));
    await tab2.close();
    expect((await watcher.next('presence')).data).toMatchObject({ room, user: 'pat', status: 'left' });
    await eventually(async () => expect((await http('GET', `${a.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body).toMatchObject({ users: ['watcher'], connections: 1 }));
    expect(watcher.all('presence')).toHaveLength(2);
    await watcher.close();
  });

  it('recovers on pod B exactly what a client missed after dropping from pod A, or says recovered: false when history was trimmed', async () => {
    const room = 'public:recover';
    const first = await connectClient(a.wsUrl, user('rita'));
    await first.join(room);
    for (const text of ['m1', 'm2', 'm3']) await notify(b, room, text);
    const seen = await first.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'm3');
    first.terminate();
    for (const text of ['m4', 'm5', 'm6']) await notify(c, room, text);

    const second = await connectClient(b.wsUrl, user('rita'));
    const joined = await second.join(room, seqOf(seen));
    expect(joined.data).toMatchObject({ recovered: true, missed: 3 });
    await eventually(() => expect(framesIn(second, room)).toHaveLength(3));
    expect(framesIn(second, room).map((frame) => frame.data.payload.text)).toEqual(['m4', 'm5', 'm6']);

    const lastSeen = seqOf(framesIn(second, room)[2]);
    await second.close();
    for (let n = 0; n <= HISTORY_SIZE; n++) await notify(a, room, `flood-${n}`);
    const third = await connectClient(c.wsUrl, user('rita'));
    expect((await third.join(room, lastSeen)).data).toMatchObject({ recovered: false });
    await third.close();
  });

  it('delivers personal notifications published while their users are being admitted once each, in order and without a gap', async () => {
    const users = Array.from({ length: 12 }, (_, index) => `admitted${index}`);
    let publishing = true;
    // Publishes on pod B to every user's personal room, round after round, while they connect to pod A.
    const publisher = (async () => {
      for (let round = 0; publishing || round < 2; round++) {
        await Promise.all(users.map((name) => notify(b, `user:${name}`, `r${round}`)));
      }
    })();
    const clients = await Promise.all(users.map((name) => connectClient(a.wsUrl, user(name))));
    publishing = false;
    await publisher;
    const last = await Promise.all(users.map((name) => notify(b, `user:${name}`, 'last')));
    for (const result of last) expect(result.status).toBe(202);
    for (const [index, client] of clients.entries()) {
      await client.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'last');
      const positions = framesIn(client, `user:${users[index]}`).map((frame) => Number(seqOf(frame).split('-').pop()));
      // Whatever came after the first delivery came once, in order, with no position skipped.
      expect(positions).toEqual(positions.map((_, n) => positions[0] + n));
      expect(client.frames[0].event).toBe('welcome');
    }
    await closeAll(clients);
  });

  it('answers a join of a room the pod follows with its latest seq, and a rejoin at that seq as recovered with nothing missed', async () => {
    const room = 'public:followed';
    const member = await connectClient(a.wsUrl, user('follower'));
    await member.join(room);
    await notify(b, room, 'one');
    const seen = await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'one');
    const newcomer = await connectClient(a.wsUrl, user('newcomer'));
    expect((await newcomer.join(room)).data).toMatchObject({ room, seq: seqOf(seen) });
    const rejoining = await connectClient(a.wsUrl, user('rejoining'));
    expect((await rejoining.join(room, seqOf(seen))).data).toMatchObject({ room, seq: seqOf(seen), recovered: true, missed: 0 });
    await notify(b, room, 'two');
    for (const client of [member, newcomer, rejoining]) {
      await client.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'two');
      expect(framesIn(client, room).map((frame) => frame.data.payload.text)).toEqual(client === member ? ['one', 'two'] : ['two']);
    }
    await closeAll([member, newcomer, rejoining]);
  });

  it('replays a rejoin on a pod that follows the room exactly what the client missed, then what follows, once each', async () => {
    const room = 'public:rejoin-here';
    const stays = await connectClient(a.wsUrl, user('stays'));
    await stays.join(room);
    const drops = await connectClient(a.wsUrl, user('drops'));
    await drops.join(room);
    await notify(b, room, 'm1');
    const seen = await drops.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'm1');
    drops.terminate();
    for (const text of ['m2', 'm3', 'm4']) await notify(c, room, text);
    await stays.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'm4');

    const back = await connectClient(a.wsUrl, user('drops'));
    const joined = await back.join(room, seqOf(seen));
    expect(joined.data).toMatchObject({ recovered: true, missed: 3, seq: seqOf(framesIn(stays, room)[3]) });
    await notify(b, room, 'm5');
    await back.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'm5');
    expect(framesIn(back, room).map((frame) => frame.data.payload.text)).toEqual(['m2', 'm3', 'm4', 'm5']);
    expect(framesIn(back, room).map(seqOf)).toEqual(framesIn(stays, room).slice(1).map(seqOf));
    await closeAll([stays, back]);
  });

  it('delivers a publish with the same id sent to two pods once', async () => {
    const room = 'public:dedup';
    const member = await connectClient(c.wsUrl, user('dee'));
    await member.join(room);
    const id = randomUUID();
    const results = await Promise.all([notify(a, room, 'once', id), notify(b, room, 'once', id)]);
    expect(results.map((result) => result.status)).toEqual([202, 202]);
    await notify(a, room, 'marker');
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'marker');
    expect(framesIn(member, room).map((frame) => frame.data.payload.text)).toEqual(['once', 'marker']);
    await member.close();
  });

  it("drops the pod's Redis subscription to a room when its last local member leaves", async () => {
    const room = 'public:unsubscribe';
    const channel = `${broker.env().REDIS_PREFIX}room:${room}`;
    const inspector = createClient({ url: broker.redis!.url });
    inspector.on('error', () => undefined); // Only used while Redis is up.
    await inspector.connect();
    const subscribers = async () => (await inspector.pubSubNumSub(channel))[channel];
    try {
      const one = await connectClient(b.wsUrl, user('sub1'));
      const two = await connectClient(b.wsUrl, user('sub2'));
      await one.join(room);
      await two.join(room);
      expect(await subscribers()).toBe(1);
      await one.request('leave', { room });
      expect(await subscribers()).toBe(1);
      await two.close();
      await eventually(async () => expect(await subscribers()).toBe(0));
      await one.close();
    } finally {
      await inspector.close();
    }
  });

  it("tells members on other pods that a drained pod's users left, before that pod lets go of Redis", async () => {
    const room = 'public:drained';
    const drained = await spawnServer({ ...broker.env(), ...POD_ENV, DRAIN_DELAY_MS: '0', DRAIN_SPREAD_MS: '0' });
    const watcher = await connectClient(a.wsUrl, user('watcher3'));
    await watcher.join(room);
    const names = ['ed', 'flo', 'gus', 'hal', 'ida'];
    const leaving = await Promise.all(names.map((name) => connectClient(drained.wsUrl, user(name))));
    for (const client of leaving) await client.join(room);
    const presenceOf = (status: string) => () => watcher.all('presence').filter((frame) => frame.data.status === status).map((frame) => frame.data.user as string).sort();
    await eventually(() => expect(presenceOf('joined')()).toEqual(names));
    drained.child.kill('SIGTERM');
    expect(await drained.exited).toEqual({ code: 0, signal: null });
    // Removed from Redis on their close and told then: nothing would expire to tell them later.
    await eventually(() => expect(presenceOf('left')()).toEqual(names));
    expect(drained.output()).not.toContain('Presence update failed');
    // Its broker closing with it is no outage.
    expect(drained.output()).not.toContain('Broker unavailable');
    await watcher.close();
  });
});

describe('a cluster whose pod is killed', () => {
  const broker = useBroker('redis');
  // The pod that notices: it refreshes its own entries (and finds expired ones) every half heartbeat.
  let watching: TestApp;

  beforeAll(async () => {
    watching = await createTestApp({ ...broker.env(), ...QUICK_HEARTBEAT_ENV });
  });
  afterAll(() => watching.close());

  it('forgets the presence of a pod killed with SIGKILL within about two heartbeats, and announces the leave', async () => {
    const room = 'public:crash';
    const doomed = await spawnServer({ ...broker.env(), ...QUICK_HEARTBEAT_ENV });
    const watcher = await connectClient(watching.wsUrl, user('watcher2'));
    await watcher.join(room);
    const victim = await connectClient(doomed.wsUrl, user('dora'));
    await victim.join(room);
    await watcher.next('presence');
    const presence = () => http('GET', `${watching.url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect((await presence()).body.users.sort()).toEqual(['dora', 'watcher2']);

    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exited;
    // The watcher's pod refreshes its own entries in the room and notices dora's expired.
    expect((await watcher.next('presence')).data).toMatchObject({ room, user: 'dora', status: 'left' });
    // Entries live 2 heartbeats past their last refresh (every half heartbeat).
    expect(Date.now() - killedAt).toBeLessThan(2.5 * QUICK_HEARTBEAT_MS + 1000);
    expect((await presence()).body).toMatchObject({ users: ['watcher2'], connections: 1 });
    await watcher.close();
  });
});

describe('a cluster that loses Redis', () => {
  const broker = useBroker('redis');
  let pods: TestApp[];

  beforeAll(async () => {
    // A heartbeat of its own: the pods and their clients share this process, so a stall of it
    // (Redis restarting, both pods resyncing, another suite beside it on a busy machine) delays the
    // clients' pongs as much as the pods' judging, and at HEARTBEAT_MS=300 a 600 ms stall had a
    // pod drop a live client (1006) in a CI run. Nothing here waits on the heartbeat.
    pods = await Promise.all([0, 1].map(() => createTestApp({ ...broker.env(), ...POD_ENV, HEARTBEAT_MS: '5000' })));
  });
  afterAll(() => Promise.all(pods.map((pod) => pod.close())));

  it('keeps pods and live clients up, refuses new work while Redis is down, and resumes delivery after it returns', async () => {
    const [a, b] = pods;
    const room = 'public:outage';
    const onA = await connectClient(a.wsUrl, user('ann'));
    const onB = await connectClient(b.wsUrl, user('ben'));
    await onA.join(room);
    await onB.join(room);
    await notify(a, room, 'before');
    const before = await onB.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'before');

    await broker.redis!.kill();
    for (const pod of pods) await eventually(async () => expect((await http('GET', `${pod.url}/readyz`)).status).toBe(503));
    const refused = await openClient(a.wsUrl, user('newcomer'));
    expect(await refused.closed).toEqual({ code: 1013, reason: 'try_again_later' });

    const started = Date.now();
    const join = await onA.request('join', { room: 'public:elsewhere' });
    expect(join).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    const message = await onB.request('message', { room, text: 'lost' });
    expect(message).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    const rejected = await notify(b, room, 'not stored');
    expect(rejected.status).toBe(503);
    expect(rejected.headers.get('retry-after')).toBe('2');
    expect(rejected.body.message).toMatch(/not stored/i);
    const presenceAnswer = await http('GET', `${a.url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect(presenceAnswer).toMatchObject({ status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('presence across pods cannot be read') } });
    // Every broker 503, whatever its words (docs/protocol.md).
    expect(presenceAnswer.headers.get('retry-after')).toBe('2');
    for (const inbox of [await http('GET', `${a.url}/v1/inbox`, { token: signToken({ sub: 'dora' }) }), await http('POST', `${a.url}/v1/inbox/read`, { token: signToken({ sub: 'dora' }), body: { all: true } })]) {
      // Its own words: nothing about publishing.
      expect(inbox).toMatchObject({ status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('inbox could not be read or changed') } });
      expect(inbox.body.message).not.toMatch(/publish/);
    }
    expect(Date.now() - started).toBeLessThan(5000);

    await broker.redis!.restart();
    for (const pod of pods) await eventually(async () => expect((await http('GET', `${pod.url}/readyz`)).status).toBe(200), 10_000);
    expect(onA.closeInfo).toBeUndefined();
    expect(onB.closeInfo).toBeUndefined();

    // Redis came back empty: no pod can prove its members missed nothing, so each is told to
    // recover the room (section 4) rather than left with a silent gap.
    for (const client of [onA, onB]) {
      const recovery = await client.waitFor((frame) => frame.event === 'recovery' && frame.data.room === room);
      expect(recovery.data).toEqual({ room, seq: expect.any(String), recovered: false });
    }
    // Both pods resubscribed on their own: live clients get what is published now.
    await notify(b, room, 'after');
    for (const client of [onA, onB]) {
      await client.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'after');
      expect(framesIn(client, room).map((frame) => frame.data.payload.text)).toEqual(['before', 'after']);
      expect(framesIn(client, room, 'recovery')).toHaveLength(1);
    }
    // History went with Redis: a seq from before the restart cannot be recovered.
    const rejoin = await connectClient(b.wsUrl, user('ben'));
    expect((await rejoin.join(room, seqOf(before))).data).toMatchObject({ recovered: false });
    // Presence came back too.
    const presence = await http('GET', `${a.url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect(presence.body.users.sort()).toEqual(['ann', 'ben']);
    await closeAll([onA, onB, rejoin]);
  });
});

describe('presence in a cluster whose Redis restarts empty', () => {
  const broker = useBroker('redis');
  // Two seconds: a stall of this process (pod A and the watcher live here) up to four seconds
  // long does not cost the watcher its connection.
  const env = () => ({ ...broker.env(), HEARTBEAT_MS: '2000' });

  it('tells members left for the users of a pod that died during the outage, whose entries went with Redis', async () => {
    const room = 'public:lost-entries';
    const a = await createTestApp(env());
    const doomed = await spawnServer(env());
    try {
      const watcher = await connectClient(a.wsUrl, user('wendy'));
      await watcher.join(room);
      const victim = await connectClient(doomed.wsUrl, user('dora'));
      await victim.join(room);
      expect((await watcher.next('presence')).data).toMatchObject({ room, user: 'dora', status: 'joined' });

      await broker.redis!.kill();
      doomed.child.kill('SIGKILL');
      await doomed.exited;
      await broker.redis!.restart();
      await eventually(async () => expect((await http('GET', `${a.url}/readyz`)).status).toBe(200), 15_000);
      // Nothing expires to announce dora: her entries went with Redis. Pod A finds her missing
      // once every live pod has had two heartbeats to register again, and tells its members.
      const left = await watcher.waitFor((frame) => frame.event === 'presence' && frame.data.status === 'left', 20_000);
      expect(left.data).toMatchObject({ room, user: 'dora', status: 'left' });
      expect(watcher.all('presence').filter((frame) => frame.data.status === 'left')).toHaveLength(1);
      expect(watcher.closeInfo).toBeUndefined();
      await watcher.close();
    } finally {
      doomed.child.kill('SIGKILL');
      await a.close();
    }
  }, 60_000);
});

describe('a cluster whose Redis restarts from an older snapshot', () => {
  let redis: RedisServer;
  beforeAll(async () => (redis = await startRedis({ snapshots: true })));
  afterAll(async () => {
    await closeOpenApps();
    await redis.stop();
  });

  it('never answers a since from before the lost writes recovered: true, on a pod that follows the room or not', async () => {
    const env = { ...POD_ENV, REDIS_URL: redis.url, REDIS_PREFIX: `snap${randomUUID().slice(0, 8)}:` };
    const [a, b] = [await createTestApp(env), await createTestApp(env)];
    const room = 'public:snapshot';
    // A follows the room through its member; B follows nothing but its members' personal rooms.
    const member = await connectClient(a.wsUrl, user('mia'));
    await member.join(room);
    for (const text of ['one', 'two', 'three']) expect((await notify(b, room, text, `snap-${text}`)).status).toBe(202);
    await eventually(() => expect(framesIn(member, room)).toHaveLength(3));
    const [, second, third] = framesIn(member, room).map(seqOf);
    const redisClient = createClient({ url: redis.url });
    await redisClient.connect();
    await redisClient.sendCommand(['SAVE']);
    await redisClient.quit();
    // Acknowledged after the snapshot, so lost with the restart below.
    for (const text of ['four', 'five']) expect((await notify(b, room, text, `snap-${text}`)).status).toBe(202);
    await eventually(() => expect(framesIn(member, room)).toHaveLength(5));

    await redis.restart();
    for (const pod of [a, b]) await eventually(async () => expect((await http('GET', `${pod.url}/readyz`)).status).toBe(200), 10_000);
    // The live member is told (section 4)...
    await member.waitFor((frame) => frame.event === 'recovery' && frame.data.room === room);
    // ...and no rejoin from before the lost writes is told it missed nothing, on either pod.
    for (const pod of [b, a]) {
      for (const since of [third, second]) {
        const rejoin = await connectClient(pod.wsUrl, user('ren'));
        expect({ since, joined: (await rejoin.join(room, since)).data }).toMatchObject({ since, joined: { recovered: false } });
        await rejoin.close();
      }
    }
    // The room goes on in a new life.
    expect((await notify(b, room, 'six', 'snap-six')).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'six');
    await member.close();
  }, 60_000);
});
