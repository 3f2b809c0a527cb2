import { WebhookEvent } from '@herald/client/protocol';
import { verifyWebhook } from '@herald/client/webhooks';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { HookReceiver } from '../support/hook-receiver';
import { http, publish } from '../support/http';
import { spawnServer } from '../support/spawned-server';
import { createTestApp, TestApp } from '../support/test-app';
import { HOOKS_SECRET, about, hookEnv, subjectOf, user, webhooksAcrossPods } from '../support/webhooks-across-pods';
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
  it('refuses to start with WEBHOOK_URL and no HOOKS_SECRET, naming it, with exit code 1', async () => {
    const server = await spawnServer({ WEBHOOK_URL: 'http://127.0.0.1:9/hooks', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain('HOOKS_SECRET must be set');
  });
});

describe('webhooks across pods on one Redis', () => {
  const broker = useBroker('redis');
  webhooksAcrossPods(() => broker.env());
});
