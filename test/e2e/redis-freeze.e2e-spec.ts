import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { HttpResult, http, publish } from '../support/http';
import { RedisServer, startRedis } from '../support/redis-server';
import { createTestApp, TestApp } from '../support/test-app';
import { startedTogether } from '../support/started-together';
import { startTcpRelay } from '../support/tcp-relay';
import { publisherToken, signToken } from '../support/tokens';
import { TestClient, connectClient, openClient } from '../support/ws-client';

/**
 * A Redis that stops answering without closing its connections (stuck, or frozen here with
 * SIGSTOP) is lost Redis too (section 7): every broker call has a deadline, and a PING with a
 * deadline turns readyz 503 until Redis answers again.
 */
const COMMAND_TIMEOUT_MS = 1000;
/** What "a few seconds at most" means here: the deadline plus generous slack for a busy machine. */
const ANSWER_WITHIN_MS = 5000;
const user = (sub: string) => signToken({ sub });
const chatUser = (sub: string) => signToken({ sub, rooms: ['chat:*'] });

/** Resolves with the HTTP answer, or fails if none came within ANSWER_WITHIN_MS. */
function answered(method: string, url: string, options: Parameters<typeof http>[2] = {}): Promise<HttpResult> {
  return Promise.race([
    http(method, url, options),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${method} ${url} got no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS).unref()),
  ]);
}

describe('a pod whose Redis freezes', () => {
  const broker = useBroker('redis');
  let app: TestApp;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    app = await createTestApp({ ...broker.env(), REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) });
  });
  // Never leave a stopped redis-server behind, whatever failed.
  afterEach(async () => {
    broker.redis?.resume();
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(() => app.close());

  it('answers 503, unavailable and 1013 within a few seconds, turns readyz 503, and works again once Redis thaws', async () => {
    const room = 'public:frozen';
    const member = await connectClient(app.wsUrl, user('ann'));
    clients.push(member);
    await member.join(room);
    const inboxOwner = signToken({ sub: 'dora' });

    broker.redis!.pause();
    // All at once: each call must give up on its own deadline, none may wait for Redis.
    const [published, publishedWithId, batch, inbox, presence, join, message, refused] = await Promise.all([
      answered('POST', `${app.url}/v1/notifications`, { token: publisherToken(), body: { rooms: [room], type: 'test', payload: { text: 'frozen' } } }),
      answered('POST', `${app.url}/v1/notifications`, { token: publisherToken(), body: { rooms: [room], type: 'test', payload: { text: 'frozen, with an id' }, id: 'frozen-1' } }),
      answered('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), body: { notifications: [{ rooms: [room], type: 'test', payload: { text: 'frozen batch' } }, { rooms: [room], type: 'test', payload: { text: 'frozen batch, with an id' }, id: 'frozen-2' }] } }),
      answered('GET', `${app.url}/v1/inbox`, { token: inboxOwner }),
      answered('GET', `${app.url}/v1/rooms/${room}/presence`, { token: publisherToken() }),
      member.request('join', { room: 'public:elsewhere' }, ANSWER_WITHIN_MS),
      member.request('message', { room, text: 'frozen' }, ANSWER_WITHIN_MS),
      openClient(app.wsUrl, user('newcomer')).then((client) => {
        clients.push(client);
        return Promise.race([client.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('new connection not closed in time')), ANSWER_WITHIN_MS).unref())]);
      }),
    ]);
    expect(published.status).toBe(503);
    expect(published.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
    // When to try again (RFC 9110): a pod tries Redis again at least every 2 s.
    expect(published.headers.get('retry-after')).toBe('2');
    // Sent to a Redis that then said nothing: it may run the publish once it thaws, so the 503
    // says so rather than that nothing was stored.
    // Without an id, a retry could deliver it twice: the 503 says so, rather than promising once.
    expect(published.body.message).toMatch(/could not confirm the request \(Redis did not answer in time\).*may have been stored.*It carried no id, so publishing it again may deliver it twice/);
    expect(publishedWithId).toMatchObject({ status: 503, body: { message: expect.stringMatching(/may have been stored.*Retry later with the same id: it is delivered once/) } });
    expect(batch.status).toBe(207);
    // Its items answered 503: when to retry, as a single publish's 503 says.
    expect(batch.headers.get('retry-after')).toBe('2');
    const [withoutId, withId] = (batch.body as { results: { error: { statusCode: number; message: string } }[] }).results.map((result) => result.error);
    expect(withoutId).toMatchObject({ statusCode: 503, message: expect.stringMatching(/^notifications\.0: .*may have been stored.*carried no id, so publishing it again may deliver it twice/) });
    expect(withId).toMatchObject({ statusCode: 503, message: expect.stringMatching(/^notifications\.1: .*may have been stored.*Retry later with the same id: it is delivered once/) });
    // Each of the four notifications counted once, as what its 503 said.
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^herald_publishes_unavailable_total\{outcome="unconfirmed"\} 4$/m);
    expect(inbox.status).toBe(503);
    // A read: nothing in its words about a change that may have happened.
    expect(inbox.body.message).toMatch(/could not be read or changed/);
    expect(presence.status).toBe(503);
    expect(join).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    expect(message).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    expect(refused).toEqual({ code: 1013, reason: 'try_again_later' });
    await eventually(async () => expect((await answered('GET', `${app.url}/readyz`)).status).toBe(503), ANSWER_WITHIN_MS);
    // The connected member stays connected through the outage.
    expect(member.closeInfo).toBeUndefined();

    broker.redis!.resume();
    await eventually(async () => expect((await http('GET', `${app.url}/readyz`)).status).toBe(200), 10_000);
    expect(member.closeInfo).toBeUndefined();

    // Everything works again: publish reaches the member, joins, messages, new connections.
    expect((await publish(app.url, { rooms: [room], type: 'test', payload: { text: 'thawed' } })).status).toBe(202);
    await member.waitFor((frame) => frame.event === 'notification' && frame.data.payload.text === 'thawed');
    expect((await member.join('public:elsewhere')).data).toMatchObject({ room: 'public:elsewhere' });
    expect((await member.request('message', { room, text: 'hello again' })).event).toBe('ack');
    const newcomer = await connectClient(app.wsUrl, user('newcomer'));
    clients.push(newcomer);
    expect((await http('GET', `${app.url}/v1/inbox`, { token: inboxOwner })).status).toBe(200);
    const present = await http('GET', `${app.url}/v1/rooms/${room}/presence`, { token: publisherToken() });
    expect(present.body.users).toEqual(['ann']);
  });

  it('logs the rooms it could not unsubscribe while Redis was frozen in one line per burst, not one per room', async () => {
    const rooms = Array.from({ length: 30 }, (_, i) => `public:burst-${i}`);
    const members = await Promise.all(rooms.map((_, i) => connectClient(app.wsUrl, user(`burst-${i}`))));
    await Promise.all(members.map((member, i) => member.join(rooms[i])));
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      broker.redis!.pause();
      await Promise.all(members.map((member) => member.close()));
      const unsubscribeLines = () => warn.mock.calls.map(([line]) => line as { message?: string; rooms?: number }).filter((line) => line?.message === 'Unsubscribe failed');
      // Every room it was in counted, each failing on its own deadline (and its personal channel's).
      await eventually(() => expect(unsubscribeLines().reduce((sum, line) => sum + (line.rooms ?? 0), 0)).toBeGreaterThanOrEqual(rooms.length), 4 * ANSWER_WITHIN_MS);
      expect(unsubscribeLines().length).toBeLessThanOrEqual(3);
    } finally {
      warn.mockRestore();
      broker.redis!.resume();
    }
    await eventually(async () => expect((await http('GET', `${app.url}/readyz`)).status).toBe(200), 10_000);
  });

  it('turns readyz 503 on a silent Redis with no traffic at all, and 200 once it answers again', async () => {
    expect((await http('GET', `${app.url}/readyz`)).status).toBe(200);
    broker.redis!.pause();
    // Nothing calls Redis here: only the health check's PING can notice.
    await eventually(async () => expect((await answered('GET', `${app.url}/readyz`)).status).toBe(503), ANSWER_WITHIN_MS);
    expect((await answered('GET', `${app.url}/readyz`)).body.message).toMatch(/broker/i);
    broker.redis!.resume();
    await eventually(async () => expect((await http('GET', `${app.url}/readyz`)).status).toBe(200), 10_000);
  });
});

describe('a Redis that refuses writes (maxmemory reached, noeviction)', () => {
  const broker = useBroker('redis');
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp(broker.env())));
  afterAll(() => app.close());

  it('answers publishes 503 and messages unavailable, not 500 and internal, then delivers the retried id once when Redis takes writes again', async () => {
    const client = await connectClient(app.wsUrl, chatUser('olive'));
    await client.join('chat:full');
    await broker.redis!.configSet('maxmemory', '1');
    try {
      const refused = await publish(app.url, { id: 'full-1', rooms: ['chat:full'], type: 't', payload: { n: 1 } });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
      // Refused: nothing stored, but an id may be bound to its body before a room refuses it.
      expect(refused.body.message).toMatch(/so the notification was not stored or delivered\. Retry later with the same id and body: it is delivered once \(the id may be bound to this body already: another body under it answers 409\)/);
      const message = await client.request('message', { room: 'chat:full', text: 'hello' });
      expect(message).toMatchObject({ event: 'error', data: { code: 'unavailable', event: 'message' } });
      // Redis's own reply (OOM command not allowed...) is for the logs, not for browsers.
      expect(message.data.message).toBe('The message broker is unreachable; try again later');
      // Refused before it was stored: counted, so an alert sees what readyz and broker_up do not.
      expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^herald_publishes_unavailable_total\{outcome="not_stored"\} 1$/m);
    } finally {
      await broker.redis!.configSet('maxmemory', '0');
    }
    expect((await publish(app.url, { id: 'full-1', rooms: ['chat:full'], type: 't', payload: { n: 1 } })).status).toBe(202);
    await eventually(() => expect(client.all('notification').map((frame) => frame.data.id)).toEqual(['full-1']));
    await client.close();
  });
});

describe('presence changes made while Redis is down', () => {
  const broker = useBroker('redis');
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) })));
  afterAll(() => app.close());

  const presenceOf = (client: TestClient) => client.all('presence').map((frame) => `${frame.data.user} ${frame.data.status}`);

  /** A Redis of its own for a case that stops it, so the cases beside it keep theirs; its pods are closed in `scene`. */
  async function withOwnRedis(scene: (redis: RedisServer, env: Record<string, string>) => Promise<void>): Promise<void> {
    const redis = await startRedis();
    try {
      await scene(redis, { REDIS_URL: redis.url, REDIS_PREFIX: 'own:' });
    } finally {
      await redis.stop();
    }
  }

  /**
   * `early` joins `room` on this suite's pod; then `watcher` joins it on a pod that reaches Redis
   * through a relay (heartbeats of 1 s: its look after each return comes 3 s later), so it is never
   * told `early` joined (the contract has no snapshot). `cut` and `mend` take that pod off Redis
   * and back, each once the pod says so. Everything is closed after `scene`.
   */
  async function withCutOffWatcher(
    room: string,
    scene: (setup: { early: TestClient; watcher: TestClient; earlyAnnouncedBy: number; connect(user: string): Promise<TestClient>; presenceHere(): Promise<{ users: string[] }>; cut(): Promise<void>; mend(): Promise<void> }) => Promise<void>,
  ): Promise<void> {
    const clients: TestClient[] = [];
    const connect = async (user: string) => {
      const client = await connectClient(app.wsUrl, chatUser(user));
      clients.push(client);
      await client.join(room);
      return client;
    };
    const presenceHere = async () => (await http('GET', `${app.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body as { users: string[] };
    const early = await connect('early');
    // Announced with its presence entry, which follows the `joined` reply (on a busy machine, later).
    await eventually(async () => expect((await presenceHere()).users).toEqual(['early']));
    const earlyAnnouncedBy = Date.now();
    const network = await startTcpRelay(broker.redis!.port);
    const cutOff = await createTestApp({ ...broker.env(), REDIS_URL: network.url, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), HEARTBEAT_MS: '1000' });
    const cutOffReady = async () => (await http('GET', `${cutOff.url}/readyz`)).status;
    try {
      const watcher = await connectClient(cutOff.wsUrl, chatUser('watcher'));
      clients.push(watcher);
      await watcher.join(room);
      await eventually(async () => expect((await presenceHere()).users.sort()).toEqual(['early', 'watcher']));
      await scene({
        early,
        watcher,
        earlyAnnouncedBy,
        connect,
        presenceHere,
        async cut() {
          network.cut();
          await eventually(async () => expect(await cutOffReady()).toBe(503), ANSWER_WITHIN_MS);
        },
        async mend() {
          network.mend();
          await eventually(async () => expect(await cutOffReady()).toBe(200), 15_000);
        },
      });
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await cutOff.close();
      await network.close();
    }
  }


  // Each case waits on outages and what a pod tells after them: they start together, so those waits
  // overlap instead of adding up, and each test checks its own case. A case that stops Redis has a
  // Redis of its own (withOwnRedis); the cases of a pod cut off cut only their own relays. A
  // describe of their own, so they have settled before the suite's pod and Redis are stopped.
  describe('side by side', () => {
    const cases = startedTogether({
      toldOnceBack: async () => {
        await withOwnRedis(async (redis, env) => {
          const own = await createTestApp({ ...env, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) });
          const ready = async () => (await http('GET', `${own.url}/readyz`)).status;
          try {
            const room = 'chat:outage';
            const watcher = await connectClient(own.wsUrl, chatUser('watcher'));
            await watcher.join(room);
            const leaver = await connectClient(own.wsUrl, chatUser('leaver'));
            await leaver.join(room);
            const quitter = await connectClient(own.wsUrl, chatUser('quitter'));
            await quitter.join(room);
            await eventually(() => expect(presenceOf(watcher)).toEqual(['leaver joined', 'quitter joined']));

            // Redis is lost (and comes back empty): the presence store cannot record either change.
            await redis.kill();
            await eventually(async () => expect(await ready()).toBe(503), ANSWER_WITHIN_MS);
            expect((await leaver.request('leave', { room })).event).toBe('left');
            await quitter.close();
            await redis.restart();
            await eventually(async () => expect(await ready()).toBe(200), 15_000);

            await eventually(() => expect(presenceOf(watcher)).toEqual(['leaver joined', 'quitter joined', 'leaver left', 'quitter left']), 10_000);
            expect((await http('GET', `${own.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body).toMatchObject({ users: ['watcher'], connections: 1 });
            await Promise.all([watcher.close(), leaver.close()]);
          } finally {
            await own.close();
          }
        });
      },
      joinedMeanwhile: async () => {
        await withCutOffWatcher('chat:cutoff', async ({ watcher, earlyAnnouncedBy, connect, cut, mend }) => {
          // A pod counts what was announced up to two command deadlines before it noticed the loss as
          // possibly unheard (a silent Redis is noticed that late): `early` is announced before that.
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, earlyAnnouncedBy + 2 * COMMAND_TIMEOUT_MS + 100 - Date.now())));
          /** While the pod is cut off, `user` joins on the other pod: announced on a channel the pod does not hear then. */
          const joinWhileCutOff = async (user: string) => {
            await cut();
            await connect(user);
            await mend();
          };
          await joinWhileCutOff('newcomer');
          // The look after the return tells each room's users in one pass: `early` would be told with it.
          await eventually(() => expect(presenceOf(watcher)).toEqual(['newcomer joined']), 15_000);
          // The next outage's look tells its own arrival, and not the one told already.
          await joinWhileCutOff('later');
          await eventually(() => expect(presenceOf(watcher)).toEqual(['newcomer joined', 'later joined']), 15_000);
        });
      },
      leftMeanwhile: async () => {
        await withCutOffWatcher('chat:departures', async ({ early, watcher, earlyAnnouncedBy, presenceHere, cut, mend }) => {
          // A user who arrived within two command deadlines of the loss may be one the pod never heard
          // of (see above), and its departure is then not told: `early` arrives before that.
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, earlyAnnouncedBy + 2 * COMMAND_TIMEOUT_MS + 100 - Date.now())));
          await cut();
          // Told to the room while the watcher's pod cannot hear it.
          expect((await early.request('leave', { room: 'chat:departures' })).event).toBe('left');
          await eventually(async () => expect((await presenceHere()).users).toEqual(['watcher']));
          await mend();
          await eventually(() => expect(presenceOf(watcher)).toEqual(['early left']), 15_000);
        });
      },
      shutDownWhileFrozen: async () => {
        await withOwnRedis(async (redis, env) => {
          const room = 'chat:shutdown';
          // Entries live two heartbeats (40 s here): only the shutting pod's own word tells the room in
          // time. The watcher's pod waits out the freeze without counting Redis down, so no outage rule
          // of its own tells it either.
          const leaving = await createTestApp({ ...env, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), HEARTBEAT_MS: '20000' });
          const patient = await createTestApp({ ...env, REDIS_COMMAND_TIMEOUT_MS: '30000', HEARTBEAT_MS: '20000' });
          let closed = false;
          try {
            const watcher = await connectClient(patient.wsUrl, chatUser('watcher'));
            await watcher.join(room);
            const member = await connectClient(leaving.wsUrl, chatUser('member'));
            await member.join(room);
            await eventually(() => expect(presenceOf(watcher)).toEqual(['member joined']));

            redis.pause();
            try {
              await eventually(async () => expect((await http('GET', `${leaving.url}/readyz`)).status).toBe(503), ANSWER_WITHIN_MS);
              await leaving.close();
              closed = true;
            } finally {
              redis.resume();
            }
            await eventually(() => expect(presenceOf(watcher)).toEqual(['member joined', 'member left']), 10_000);
            await watcher.close();
          } finally {
            if (!closed) await leaving.close();
            await patient.close();
          }
        });
      },
      countNoOne: async () => {
        await withOwnRedis(async (redis, env) => {
          // Entries live two heartbeats (40 s here) unless removed: longer than the test waits.
          const pod = await createTestApp({ ...env, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), HEARTBEAT_MS: '20000' });
          try {
            const room = 'chat:frozen';
            const [watcher, leaver, quitter] = [await connectClient(pod.wsUrl, chatUser('watcher')), await connectClient(pod.wsUrl, chatUser('leaver')), await connectClient(pod.wsUrl, chatUser('quitter'))];
            for (const client of [watcher, leaver, quitter]) await client.join(room);
            const presence = async () => (await http('GET', `${pod.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body;
            const podReady = async () => (await http('GET', `${pod.url}/readyz`)).status;
            await eventually(async () => expect(await presence()).toMatchObject({ connections: 3 }));

            // Frozen, not emptied: the entries stay in Redis, and the removes, asked for once the pod
            // knows Redis is down, are never sent.
            redis.pause();
            try {
              await eventually(async () => expect(await podReady()).toBe(503), ANSWER_WITHIN_MS);
              expect((await leaver.request('leave', { room })).event).toBe('left');
              await quitter.close();
            } finally {
              redis.resume();
            }
            await eventually(async () => expect(await podReady()).toBe(200), 15_000);
            // Their entries are removed at the resync, not left to expire two heartbeats later.
            await eventually(async () => expect(await presence()).toMatchObject({ users: ['watcher'], connections: 1 }), 5_000);
            await Promise.all([watcher.close(), leaver.close()]);
          } finally {
            await pod.close();
          }
        });
      },
    });

    it('are told to the room once Redis is back: a user who left or hung up meanwhile is announced as left', cases.toldOnceBack);
    it('are told to the members of a pod cut off from Redis meanwhile: a user who joined on another pod is announced joined, one there before is not', cases.joinedMeanwhile);
    it('are told to the members of a pod cut off from Redis meanwhile: a user there before them who left is announced left', cases.leftMeanwhile);
    it('are told by a pod that shut down while Redis was frozen, once Redis answers: its members are announced as left', cases.shutDownWhileFrozen);
    it('count no one who left or hung up while Redis was frozen, as soon as it answers again', cases.countNoOne);
  });
});
