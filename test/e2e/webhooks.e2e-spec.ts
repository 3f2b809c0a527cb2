import { WebhookEvent } from '@herald/client/protocol';
import { verifyWebhook } from '@herald/client/webhooks';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { HookReceiver } from '../support/hook-receiver';
import { http, publish } from '../support/http';
import { SpawnedServer, spawnServer } from '../support/spawned-server';
import { createTestApp, TestApp } from '../support/test-app';
import { HEARTBEAT_MS, HOOKS_SECRET, about, hookEnv, subjectOf, user, webhooksAcrossPods } from '../support/webhooks-across-pods';
import { connectClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('webhooks on one pod (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let receiver: HookReceiver;
  let pod: TestApp;

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    pod = await createTestApp({ ...broker.env(), ...hookEnv(receiver, { WEBHOOK_UNREAD_AFTER_S: '1' }) });
  });
  afterAll(async () => {
    await pod.close();
    await receiver.close();
  });
  afterEach(() => {
    receiver.answer = () => ({ status: 200 });
  });

  it('sends user.online for a first connection and user.offline when the last one closes, once each', async () => {
    const first = await connectClient(pod.wsUrl, user('olga'));
    await eventually(() => expect(about(receiver, 'olga')).toEqual(['user.online olga']));
    const second = await connectClient(pod.wsUrl, user('olga'));
    await first.close();
    await second.close();
    await eventually(() => expect(about(receiver, 'olga')).toEqual(['user.online olga', 'user.offline olga']));
    const [online, offline] = receiver.accepted.filter((event) => subjectOf(event) === 'olga');
    expect(online).toEqual({ id: expect.any(String), type: 'user.online', timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), user: 'olga' });
    expect(offline.id).not.toBe(online.id);
  });

  it('sends room.occupied for a first member and room.vacated after the last, and nothing for personal rooms', async () => {
    const [ann, ben] = await Promise.all([connectClient(pod.wsUrl, user('ann1')), connectClient(pod.wsUrl, user('ben1'))]);
    await ann.join('public:lobby');
    await ben.join('public:lobby');
    await eventually(() => expect(about(receiver, 'public:lobby')).toEqual(['room.occupied public:lobby']));
    await ann.request('leave', { room: 'public:lobby' });
    await ben.close();
    await eventually(() => expect(about(receiver, 'public:lobby')).toEqual(['room.occupied public:lobby', 'room.vacated public:lobby']));
    await ann.close();
    await eventually(() => expect(about(receiver, 'ann1')).toEqual(['user.online ann1', 'user.offline ann1']));
    expect(receiver.events().filter((event) => 'room' in event && event.room.startsWith('user:'))).toEqual([]);
  });

  it("nests a user's events: online before the room it occupies, the room vacated before offline", async () => {
    const cleo = await connectClient(pod.wsUrl, user('cleo'));
    await cleo.join('public:cleos');
    await eventually(() => expect(about(receiver, 'public:cleos')).toEqual(['room.occupied public:cleos']));
    await cleo.close();
    const hers = () => receiver.accepted.filter((event) => ['cleo', 'public:cleos'].includes(subjectOf(event))).map((event) => `${event.type} ${subjectOf(event)}`);
    await eventually(() => expect(hers()).toHaveLength(4));
    expect(hers()).toEqual(['user.online cleo', 'room.occupied public:cleos', 'room.vacated public:cleos', 'user.offline cleo']);
  });

  it('signs every request so that the signature verifies and a tampered body does not', async () => {
    const client = await connectClient(pod.wsUrl, user('sigrid'));
    await eventually(() => expect(about(receiver, 'sigrid')).toEqual(['user.online sigrid']));
    const request = receiver.requests.find((candidate) => candidate.rawBody.includes('"sigrid"'))!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-herald-timestamp']).toMatch(/^\d+$/);
    expect(request.headers['x-herald-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhook(HOOKS_SECRET, request.headers, request.rawBody)).toBe(true);
    expect(verifyWebhook(HOOKS_SECRET, request.headers, request.rawBody.replace('sigrid', 'mallory'))).toBe(false);
    expect(verifyWebhook('another-secret-of-16-chars', request.headers, request.rawBody)).toBe(false);
    expect(request.body.events.length).toBeLessThanOrEqual(100);
    await client.close();
  });

  it('retries a receiver answering 500 three times, then delivers every event with the same ids', async () => {
    let failures = 0;
    receiver.answer = (request) => (request.rawBody.includes('"rhea"') && failures++ < 3 ? { status: 500 } : { status: 200 });
    const client = await connectClient(pod.wsUrl, user('rhea'));
    await client.join('public:retry');
    await client.close();
    await eventually(() => expect(about(receiver, 'rhea')).toEqual(['user.online rhea', 'user.offline rhea']), 10_000);
    expect(about(receiver, 'public:retry')).toEqual(['room.occupied public:retry', 'room.vacated public:retry']);
    const attempts = receiver.requests.filter((request) => request.rawBody.includes('"rhea"'));
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    // Every attempt carried the first event under the same id, so a receiver drops the repeats.
    const firstId = receiver.accepted.find((event) => subjectOf(event) === 'rhea')!.id;
    expect(attempts.every((request) => request.body.events.some((event: WebhookEvent) => event.id === firstId))).toBe(true);
    const metrics = (await http('GET', `${pod.url}/metrics`)).body as string;
    expect(metrics).toMatch(/^herald_webhook_events_retried_total [1-9]/m);
    expect(metrics).toMatch(/^herald_webhook_events_sent_total [1-9]/m);
    expect(metrics).toMatch(/^herald_webhook_requests_total\{outcome="5xx"\} [3-9]/m);
  });

  it('sends notification.unread for an inbox item still unread after WEBHOOK_UNREAD_AFTER_S, not for one read in time', async () => {
    const sent = await publish(pod.url, { users: ['uma', 'reed'], rooms: ['public:news'], type: 'invoice.due', payload: { n: 1 } });
    expect(sent.status).toBe(202);
    const read = await http('POST', `${pod.url}/v1/inbox/read`, { token: user('reed'), body: { all: true } });
    expect(read.body).toEqual({ unread: 0 });
    const unread = await eventually(() => {
      const found = receiver.accepted.filter((event) => event.type === 'notification.unread');
      expect(found).toHaveLength(1);
      return found[0];
    }, 10_000);
    expect(unread).toEqual({
      id: expect.any(String),
      type: 'notification.unread',
      timestamp: expect.any(String),
      user: 'uma',
      seq: expect.any(String),
      notification: { id: sent.body.id, seq: expect.any(String), type: 'invoice.due' },
    });
    const inbox = await http('GET', `${pod.url}/v1/inbox`, { token: user('uma') });
    expect(unread).toMatchObject({ seq: inbox.body.items[0].seq, notification: { seq: inbox.body.items[0].seq } });
  });
});

describe.each(BROKER_KINDS)('webhooks while the receiver is down and the queue fills up (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let receiver: HookReceiver;
  let pod: TestApp;
  const QUEUE_MAX = 4;

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    pod = await createTestApp({ ...broker.env(), ...hookEnv(receiver, { WEBHOOK_QUEUE_MAX: String(QUEUE_MAX) }) });
  });
  afterAll(async () => {
    await pod.close();
    await receiver.close();
  });

  it('drops the oldest events, so the last event the receiver gets for each user is their current state', async () => {
    // Down: each POST hangs until WEBHOOK_TIMEOUT_MS, so the queue drops from under a batch in flight.
    receiver.answer = () => 'hang';
    const names = ['fay', 'gus', 'hal', 'ivy', 'jon', 'kai'];
    const clients = [await connectClient(pod.wsUrl, user(names[0]))];
    await eventually(() => expect(receiver.requests.some((request) => request.rawBody.includes(`"${names[0]}"`))).toBe(true));
    for (const name of names.slice(1)) clients.push(await connectClient(pod.wsUrl, user(name)));
    for (const client of clients) await client.close();
    // Six onlines then six offlines through a queue of four: at least the eight oldest make room
    // (more on a busy machine, where a pod may register its users again in between).
    const metric = async (pattern: RegExp) => Number(pattern.exec((await http('GET', `${pod.url}/metrics`)).body as string)?.[1]);
    const dropped = () => metric(/^herald_webhook_events_dropped_total\{reason="queue_full"\} (\d+)/m);
    await eventually(async () => expect(await dropped()).toBeGreaterThanOrEqual(2 * names.length - QUEUE_MAX), 10_000);

    receiver.answer = () => ({ status: 200 });
    await eventually(async () => {
      expect(await metric(/^herald_webhook_queue_depth (\d+)/m)).toBe(0);
      // The newest event of all is always kept, and delivered.
      expect(about(receiver, 'kai').at(-1)).toBe('user.offline kai');
    }, 15_000);
    // Whatever was dropped, no user is left online for the receiver: each one's last word is offline, or it never heard of them.
    for (const name of names) expect(about(receiver, name).at(-1) ?? `user.offline ${name}`).toBe(`user.offline ${name}`);
  }, 40_000);
});

describe('webhooks that keep failing', () => {
  let receiver: HookReceiver;
  let pod: TestApp;

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    pod = await createTestApp(hookEnv(receiver, { WEBHOOK_RETRY_S: '1', WEBHOOK_TIMEOUT_MS: '200' }));
  });
  afterAll(async () => {
    await pod.close();
    await receiver.close();
  });
  const metric = async (pattern: RegExp) => Number(pattern.exec((await http('GET', `${pod.url}/metrics`)).body as string)?.[1] ?? 0);

  it('retries a receiver that does not answer within WEBHOOK_TIMEOUT_MS', async () => {
    let hung = false;
    receiver.answer = () => (hung ? { status: 200 } : ((hung = true), 'hang'));
    const client = await connectClient(pod.wsUrl, user('hugo'));
    await eventually(() => expect(about(receiver, 'hugo')).toEqual(['user.online hugo']));
    expect(await metric(/^herald_webhook_requests_total\{outcome="timeout"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    await client.close();
    await eventually(() => expect(about(receiver, 'hugo')).toEqual(['user.online hugo', 'user.offline hugo']));
  });

  it('drops events still failing after WEBHOOK_RETRY_S, counts them, and goes on with newer ones', async () => {
    receiver.answer = () => ({ status: 500 });
    const doomed = await connectClient(pod.wsUrl, user('dropped'));
    await doomed.close();
    await eventually(async () => expect(await metric(/^herald_webhook_events_dropped_total\{reason="retry_window"\} (\d+)/m)).toBe(2), 10_000);
    receiver.answer = () => ({ status: 200 });
    const later = await connectClient(pod.wsUrl, user('later'));
    await eventually(() => expect(about(receiver, 'later')).toEqual(['user.online later']));
    expect(about(receiver, 'dropped')).toEqual([]);
    await later.close();
  });
});

describe('webhook settings', () => {
  it('exposes every drop reason and request outcome at 0 from start-up, for alerts to compare with', async () => {
    const app = await createTestApp({ WEBHOOK_URL: 'http://127.0.0.1:9/hooks', HOOKS_SECRET });
    try {
      const metrics = (await http('GET', `${app.url}/metrics`)).body as string;
      for (const reason of ['retry_window', 'queue_full', 'shutdown']) expect(metrics).toContain(`herald_webhook_events_dropped_total{reason="${reason}"} 0\n`);
      for (const outcome of ['2xx', '4xx', '5xx', 'timeout', 'error']) expect(metrics).toContain(`herald_webhook_requests_total{outcome="${outcome}"} 0\n`);
    } finally {
      await app.close();
    }
  });

  it('refuses to start with WEBHOOK_URL and no HOOKS_SECRET, naming it, with exit code 1', async () => {
    const server = await spawnServer({ WEBHOOK_URL: 'http://127.0.0.1:9/hooks', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain('HOOKS_SECRET must be set');
  });

  it('refuses hook URLs carrying credentials, naming each variable, without printing the password or query', async () => {
    const server = await spawnServer(
      {
        WEBHOOK_URL: 'http://hookuser:PASSW0RDX@127.0.0.1:9/webhook?key=QSECRETX',
        JOIN_PROXY_URL: 'http://joinuser:JPASSX@127.0.0.1:9/join?key=JQSECRETX',
        JOIN_PROXY_ROOMS: 'doc:*',
        HOOKS_SECRET,
      },
      { waitReady: false },
    );
    try {
      await eventually(() => expect(server.child.exitCode).toBe(1), 15_000);
    } finally {
      // Should it start after all, it must not outlive the test.
      server.child.kill('SIGKILL');
    }
    expect(server.output()).toContain('WEBHOOK_URL must not contain credentials');
    expect(server.output()).toContain('JOIN_PROXY_URL must not contain credentials');
    expect(server.output()).not.toMatch(/PASSW0RDX|QSECRETX|JPASSX|JQSECRETX/);
  });
});

describe('webhooks across pods on one Redis', () => {
  const broker = useBroker('redis');
  webhooksAcrossPods(() => broker.env());
});

describe.each(BROKER_KINDS)('notification.unread for a notification id used again (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let receiver: HookReceiver;
  let pod: TestApp;
  const reminders = (sub: string) => receiver.accepted.filter((event) => event.type === 'notification.unread' && event.user === sub);

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    pod = await createTestApp({ ...broker.env(), ...hookEnv(receiver, { WEBHOOK_UNREAD_AFTER_S: '1', HISTORY_TTL_S: '1' }) });
  });
  afterAll(async () => {
    await pod.close();
    await receiver.close();
  });

  it('gives the second notification under an id, once the history window has passed, a reminder with its own id', async () => {
    const notification = (n: number) => ({ id: 'invoice-7', users: ['ursula'], type: 'invoice.due', payload: { n } });
    expect((await publish(pod.url, notification(1))).status).toBe(202);
    await eventually(() => expect(reminders('ursula')).toHaveLength(1), 10_000);
    // Inside the history window another body under the same id is a 409; past it, a new notification.
    const inbox = await eventually(
      async () => {
        expect((await publish(pod.url, notification(2))).status).toBe(202);
        const read = await http('GET', `${pod.url}/v1/inbox`, { token: user('ursula') });
        expect(read.body.items.map((item: { id: string }) => item.id)).toEqual(['invoice-7', 'invoice-7']);
        return read;
      },
      10_000,
      100,
    );
    await eventually(() => expect(reminders('ursula')).toHaveLength(2), 10_000);
    const [first, second] = reminders('ursula');
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ seq: inbox.body.items[0].seq, notification: { id: 'invoice-7', seq: inbox.body.items[0].seq } });
    expect(first).toMatchObject({ seq: inbox.body.items[1].seq });
  });
});

describe('webhooks from a pod that is killed (redis broker)', () => {
  const broker = useBroker('redis');
  let receiver: HookReceiver;
  const spawned: SpawnedServer[] = [];
  const apps: TestApp[] = [];
  beforeEach(async () => (receiver = await HookReceiver.start()));
  afterEach(async () => {
    for (const pod of spawned.splice(0)) pod.child.kill('SIGKILL');
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await receiver.close();
  });

  const envFor = (cluster: string, hooks: Record<string, string>) => ({ ...broker.env(cluster), ...hookEnv(receiver, hooks) });
  /** A pod in a process of its own, to be killed; killed after the test whatever happened. */
  const doomedPod = async (env: Record<string, string>) => {
    const pod = await spawnServer(env);
    spawned.push(pod);
    return pod;
  };
  const survivingPod = async (env: Record<string, string>) => {
    const app = await createTestApp(env);
    apps.push(app);
    return app;
  };
  /** As a crash would: at once, and nothing the pod meant to do later happens. */
  const crash = async (pod: SpawnedServer) => {
    pod.child.kill('SIGKILL');
    await pod.exited;
  };
  const onlineFor = (sub: string) => receiver.accepted.some((event) => event.type === 'user.online' && subjectOf(event) === sub);

  it('reminds all the same when it dies right after a 202: the check was written before the publish was answered, and another pod makes it', async () => {
    const env = envFor('unread-kill', { WEBHOOK_UNREAD_AFTER_S: '1' });
    await survivingPod(env);
    const doomed = await doomedPod(env);
    const users = Array.from({ length: 5 }, (_, i) => `kiki${i}`);
    const answer = await publish(doomed.url, { users, type: 'invoice.due', payload: {} });
    await crash(doomed);
    expect(answer.status).toBe(202);
    await eventually(() => expect(receiver.accepted.filter((event) => event.type === 'notification.unread').map((event) => (event as { user: string }).user).sort()).toEqual(users), 15_000);
  });

  it('go on from another pod within a few seconds when the pod delivering them dies, however long WEBHOOK_TIMEOUT_MS is', async () => {
    const env = envFor('lease-handover', { WEBHOOK_TIMEOUT_MS: '30000' });
    // Alone at first, so it takes the delivery lease: its user's online comes from it.
    const doomed = await doomedPod(env);
    const first = await connectClient(doomed.wsUrl, user('lena'));
    await eventually(() => expect(onlineFor('lena')).toBe(true));
    const survivor = await survivingPod(env);
    await crash(doomed);
    await first.closed;
    const second = await connectClient(survivor.wsUrl, user('otto'));
    // The lease lapses in about two seconds without its holder, where it lasted longer than a
    // POST may take (the 30 s of WEBHOOK_TIMEOUT_MS and more) and held every pod's webhooks.
    await eventually(() => expect(onlineFor('otto')).toBe(true), 15_000);
    await second.close();
  }, 40_000);
});

describe('webhooks through a Redis that restarts empty or stalls', () => {
  const broker = useBroker('redis');
  let receiver: HookReceiver;
  let pods: TestApp[];
  const ready = async (pod: TestApp) => (await http('GET', `${pod.url}/readyz`)).status;

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    // A short command timeout, so a stalled Redis fails the hooks' calls within the test.
    pods = await Promise.all([0, 1].map(() => createTestApp({ ...broker.env(), ...hookEnv(receiver, { REDIS_COMMAND_TIMEOUT_MS: '300' }) })));
  });
  afterAll(async () => {
    await Promise.all(pods.map((pod) => pod.close()));
    await receiver.close();
  });

  it('reports a user who left while Redis was down offline, and their room vacated, once it is back empty', async () => {
    const [a, b] = pods;
    const leaver = await connectClient(a.wsUrl, user('lena', ['chat:*']));
    await leaver.join('chat:lena');
    const stayer = await connectClient(b.wsUrl, user('stan'));
    // One tab on each pod: closing one during the outage leaves the user online.
    const tabs = [await connectClient(a.wsUrl, user('tia')), await connectClient(b.wsUrl, user('tia'))];
    await eventually(() => expect(['lena', 'chat:lena', 'stan', 'tia'].flatMap((subject) => about(receiver, subject))).toEqual(['user.online lena', 'room.occupied chat:lena', 'user.online stan', 'user.online tia']));

    await broker.redis!.kill();
    for (const pod of pods) await eventually(async () => expect(await ready(pod)).toBe(503), 10_000);
    await leaver.close();
    await tabs[0].close();
    await broker.redis!.restart();
    for (const pod of pods) await eventually(async () => expect(await ready(pod)).toBe(200), 15_000);

    await eventually(() => expect(about(receiver, 'lena')).toEqual(['user.online lena', 'user.offline lena']), 15_000);
    await eventually(() => expect(about(receiver, 'chat:lena')).toEqual(['room.occupied chat:lena', 'room.vacated chat:lena']));
    // Redis forgot who is online: users still connected are registered again, with a fresh online.
    await eventually(() => expect(about(receiver, 'stan').filter((event) => event === 'user.online stan')).toHaveLength(2), 15_000);
    expect(about(receiver, 'stan').at(-1)).toBe('user.online stan');
    // Whichever pod registers first decides whether tia is seen offline in between; the last word is online.
    await eventually(() => expect(about(receiver, 'tia').at(-1)).toBe('user.online tia'), 15_000);
    await Promise.all([stayer.close(), tabs[1].close()]);
  }, 60_000);

  it('reports a user who left while Redis stalled offline once, not again when the pods resync, and no one who stayed', async () => {
    const [a, b] = pods;
    const leaver = await connectClient(a.wsUrl, user('paula', ['chat:*']));
    await leaver.join('chat:paula');
    const stayer = await connectClient(b.wsUrl, user('pete'));
    await eventually(() => expect(['paula', 'chat:paula', 'pete'].flatMap((subject) => about(receiver, subject))).toEqual(['user.online paula', 'room.occupied chat:paula', 'user.online pete']));

    broker.redis!.pause();
    const pausedAt = Date.now();
    try {
      await leaver.close();
      for (const pod of pods) await eventually(async () => expect(await ready(pod)).toBe(503), 10_000);
      // Past a pod's TTL (two heartbeats): every pod's registration lapses while Redis is paused.
      await eventually(() => expect(Date.now()).toBeGreaterThan(pausedAt + 2 * HEARTBEAT_MS + 500), 10_000, 50);
    } finally {
      broker.redis!.resume();
    }
    for (const pod of pods) await eventually(async () => expect(await ready(pod)).toBe(200), 15_000);

    // Queued after anything pod a registers on its way back, so everything before it has been sent.
    const marker = await connectClient(a.wsUrl, user('mark'));
    await eventually(() => expect(about(receiver, 'mark')).toEqual(['user.online mark']), 15_000);
    expect(about(receiver, 'paula')).toEqual(['user.online paula', 'user.offline paula']);
    expect(about(receiver, 'chat:paula')).toEqual(['room.occupied chat:paula', 'room.vacated chat:paula']);
    // Time in which no pod could reach Redis is no pod's fault: neither was taken for dead.
    expect(about(receiver, 'pete')).toEqual(['user.online pete']);
    await Promise.all([stayer.close(), marker.close()]);
  }, 60_000);
});
