import { eventually } from '../support/eventually';
import { HookReceiver } from '../support/hook-receiver';
import { http, publish } from '../support/http';
import { createTestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { hookEnv } from '../support/webhooks-across-pods';
import { connectClient, TestClient } from '../support/ws-client';

/*
 * Limits whose effect no other spec saw at a value other than the default: each is set here, as
 * an operator would, and shown to change what a client or backend gets.
 */

/** What a test opened, closed after it newest first, also when the test failed before its end. */
const opened: Array<{ close(): unknown }> = [];
const open = <T extends { close(): unknown }>(thing: T): T => {
  opened.push(thing);
  return thing;
};
afterEach(async () => {
  // Each closed whatever the one before did; the first failure is reported once all are.
  const failures: unknown[] = [];
  for (const thing of opened.splice(0).reverse()) await Promise.resolve(thing.close()).catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw failures[0];
});

describe('MAX_JSON_DEPTH set below its default', () => {
  it('refuses a frame and a publish body one level past it, and takes them at it', async () => {
    const app = open(await createTestApp({ MAX_JSON_DEPTH: '4' }));
    const client = open(await connectClient(app.wsUrl, signToken({ sub: 'dee' })));
    // The frame itself is level 1.
    client.socket.send('{"event":"ping","id":"at","x":[[[]]]}');
    expect(await client.waitFor((frame) => frame.id === 'at')).toMatchObject({ event: 'pong' });
    client.socket.send('{"event":"ping","id":"past","x":[[[[]]]]}');
    expect(await client.waitFor((frame) => frame.id === 'past')).toEqual({ event: 'error', id: 'past', data: { code: 'bad_request', message: 'Frame is nested deeper than 4 levels', event: 'ping' } });

    // A publish body likewise: the body, payload, a and b are its 4 levels.
    expect((await publish(app.url, { users: ['dee'], type: 't', payload: { a: { b: {} } } })).status).toBe(202);
    const past = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), body: { users: ['dee'], type: 't', payload: { a: { b: { c: {} } } } } });
    expect(past.body).toEqual({ statusCode: 400, error: 'Bad Request', message: 'The JSON body is nested deeper than 4 levels' });
  });
});

describe('WS_COMPRESSION_MIN_BYTES set above its default', () => {
  it('sends broadcasts below it uncompressed to a client that agreed to compression', async () => {
    const app = open(await createTestApp({ WS_COMPRESSION: 'true', WS_COMPRESSION_MIN_BYTES: '65536' }));
    const client = open(await connectClient(app.wsUrl, signToken({ sub: 'zip', rooms: ['news:*'] }), { perMessageDeflate: true }));
    const bytesRead = () => (client.socket as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
    // 21,000 bytes of one repeated word: deflate makes a few hundred bytes of it.
    const text = 'herald '.repeat(3000);
    expect(client.socket.extensions).toContain('permessage-deflate');
    await client.join('news:min-bytes');
    const before = bytesRead();
    for (let i = 0; i < 3; i++) expect((await publish(app.url, { rooms: ['news:min-bytes'], type: 'note', payload: { text } })).status).toBe(202);
    for (let i = 0; i < 3; i++) expect((await client.next('notification')).data.payload.text).toBe(text);
    expect(bytesRead() - before).toBeGreaterThan(3 * text.length);
  });
});

describe('WEBHOOK_BATCH_MAX and WEBHOOK_BATCH_MS', () => {
  let receiver: HookReceiver;
  beforeEach(async () => (receiver = open(await HookReceiver.start())));

  it('send a batch as soon as it is full, never larger, holding a lone event for the window', async () => {
    // A window far longer than the test: only a full batch goes out.
    const app = open(await createTestApp(hookEnv(receiver, { WEBHOOK_BATCH_MAX: '2', WEBHOOK_BATCH_MS: '60000' })));
    const clients: TestClient[] = [];
    for (const sub of ['bo', 'cy', 'di', 'ed']) clients.push(open(await connectClient(app.wsUrl, signToken({ sub }))));
    await eventually(() => expect(receiver.events()).toHaveLength(4));
    expect(receiver.requests.map((request) => request.body.events.map((event: { user: string }) => event.user))).toEqual([
      ['bo', 'cy'],
      ['di', 'ed'],
    ]);
  });

  it('hold a lone event for about WEBHOOK_BATCH_MS before sending it', async () => {
    const app = open(await createTestApp(hookEnv(receiver, { WEBHOOK_BATCH_MS: '3000' })));
    const receivedAtMs: number[] = [];
    receiver.answer = () => {
      receivedAtMs.push(Date.now());
      return { status: 200 };
    };
    const client = open(await connectClient(app.wsUrl, signToken({ sub: 'flo' })));
    await eventually(() => expect(receiver.events()).toHaveLength(1));
    // Timed from the event's timestamp, the queue's clock when it was queued, so a slow handshake
    // adds nothing. Sent once it has waited the window less one look at the queue (a quarter of
    // it, at most 250 ms): 2750 ms at least. The default window, 500 ms, sends it within about
    // 500 ms; 2250 ms more on the way to the receiver would be needed to pass with it.
    const [event] = receiver.events();
    expect(receivedAtMs[0] - Date.parse(event.timestamp)).toBeGreaterThanOrEqual(2750);
  });
});

describe('JOIN_PROXY_CACHE_SIZE', () => {
  it('remembers that many allow decisions per pod: past it the oldest is asked about again', async () => {
    const backend = open(await HookReceiver.start());
    backend.answer = () => ({ status: 200, body: { allow: true, ttl: 600 } });
    const app = open(await createTestApp({ JOIN_PROXY_URL: backend.url, JOIN_PROXY_ROOMS: 'doc:*', HOOKS_SECRET: 'hooks-secret-for-tests-0123456789', JOIN_PROXY_CACHE_SIZE: '1' }));
    const client = open(await connectClient(app.wsUrl, signToken({ sub: 'kay' })));
    const asked = (room: string) => backend.requests.filter((request) => request.body?.room === room).length;
    const rejoin = async (room: string) => {
      expect((await client.request('leave', { room })).event).toBe('left');
      expect((await client.request('join', { room })).event).toBe('joined');
    };
    expect((await client.request('join', { room: 'doc:a' })).event).toBe('joined');
    await rejoin('doc:a');
    expect(asked('doc:a')).toBe(1);
    // The one place now goes to doc:b's allow.
    expect((await client.request('join', { room: 'doc:b' })).event).toBe('joined');
    await rejoin('doc:a');
    expect(asked('doc:a')).toBe(2);
  });
});

describe('HISTORY_MEMORY_MAX_MB (embedded broker)', () => {
  it('empties the history of the room published to least recently once the histories pass it, and keeps the newest', async () => {
    const app = open(await createTestApp({ HISTORY_MEMORY_MAX_MB: '1' }));
    const client = open(await connectClient(app.wsUrl, signToken({ sub: 'hal', rooms: ['chat:*'] })));
    const blob = 'x'.repeat(50_000);
    const since = async (room: string) => {
      const { data } = await client.join(room);
      await client.request('leave', { room });
      return data.seq as string;
    };
    const oldest = await since('chat:budget-oldest');
    expect((await publish(app.url, { rooms: ['chat:budget-oldest'], type: 'big', payload: { blob } })).status).toBe(202);
    // 30 more rooms of 50 KB each: half again the budget, all written after the oldest.
    for (let i = 0; i < 29; i++) expect((await publish(app.url, { rooms: [`chat:budget-${i}`], type: 'big', payload: { blob } })).status).toBe(202);
    const newest = await since('chat:budget-newest');
    expect((await publish(app.url, { rooms: ['chat:budget-newest'], type: 'big', payload: { blob } })).status).toBe(202);

    expect((await client.request('join', { room: 'chat:budget-oldest', since: oldest })).data).toMatchObject({ recovered: false });
    expect((await client.request('join', { room: 'chat:budget-newest', since: newest })).data).toMatchObject({ recovered: true, missed: 1 });
  });
});
