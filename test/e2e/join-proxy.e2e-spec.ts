import { verifyWebhook } from '@herald/client/webhooks';
import { eventually } from '../support/eventually';
import { HookReceiver } from '../support/hook-receiver';
import { http } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

/** Section 8's join proxy, answered by a real HTTP server. */
const HOOKS_SECRET = 'hooks-secret-for-tests-0123456789';
// Long enough that a busy machine's first request (a new connection to the backend) is not taken for a silent one.
const TIMEOUT_MS = 1000;

describe('join proxy', () => {
  let backend: HookReceiver;
  let pod: TestApp;
  const clients: TestClient[] = [];
  const connectWith = async (token: string) => {
    const client = await connectClient(pod.wsUrl, token);
    clients.push(client);
    return client;
  };
  const connect = (sub: string, claims: Record<string, unknown> = {}) => connectWith(signToken({ sub, ...claims }));
  const asked = (room: string) => backend.requests.filter((request) => request.body?.room === room);

  beforeAll(async () => {
    backend = await HookReceiver.start();
    pod = await createTestApp({ JOIN_PROXY_URL: backend.url, JOIN_PROXY_ROOMS: 'doc:*,team:7', HOOKS_SECRET, JOIN_PROXY_TIMEOUT_MS: String(TIMEOUT_MS) });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    backend.answer = () => ({ status: 200 });
  });
  afterAll(async () => {
    await pod.close();
    await backend.close();
  });

  it('admits on {"allow": true}, asking with the user, room and claims in a signed request', async () => {
    backend.answer = () => ({ status: 200, body: { allow: true } });
    const client = await connect('alma', { org: 'acme', rooms: ['chat:*'] });
    expect((await client.request('join', { room: 'doc:1' })).event).toBe('joined');
    const [request] = asked('doc:1');
    expect(request.body).toEqual({ user: 'alma', room: 'doc:1', claims: expect.objectContaining({ sub: 'alma', org: 'acme', rooms: ['chat:*'] }) });
    expect(verifyWebhook(HOOKS_SECRET, request.headers, request.rawBody)).toBe(true);
    // Members get the room's traffic like any other member.
    expect((await client.request('message', { room: 'doc:1', text: 'hi' })).event).toBe('ack');
  });

  it('answers forbidden on {"allow": false} and on a 403', async () => {
    const client = await connect('dora');
    backend.answer = () => ({ status: 200, body: { allow: false } });
    expect(await client.request('join', { room: 'doc:2' })).toMatchObject({ event: 'error', data: { code: 'forbidden', event: 'join' } });
    backend.answer = () => ({ status: 403 });
    expect(await client.request('join', { room: 'doc:3' })).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    expect(client.closeInfo).toBeUndefined();
  });

  it('answers unavailable when the backend is silent past JOIN_PROXY_TIMEOUT_MS, answers 5xx or 3xx, or answers nonsense', async () => {
    const client = await connect('tim');
    backend.answer = () => 'hang';
    const started = Date.now();
    expect(await client.request('join', { room: 'doc:slow' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    backend.answer = () => ({ status: 502 });
    expect(await client.request('join', { room: 'doc:down' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    // Redirects are not followed (a signed request goes only where it was configured to go), and a 3xx is no decision.
    backend.answer = () => ({ status: 307, body: { allow: true } });
    expect(await client.request('join', { room: 'doc:moved' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    backend.answer = () => ({ status: 200, body: { allow: 'yes' } });
    expect(await client.request('join', { room: 'doc:odd' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    // An allow past the 16 KiB an answer may take is not read to its end, nor taken.
    backend.answer = () => ({ status: 200, body: { allow: true, pad: 'x'.repeat(20_000) } });
    expect(await client.request('join', { room: 'doc:huge' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    // Nothing was joined, and the connection is fine.
    expect((await client.request('ping')).event).toBe('pong');
    expect(client.closeInfo).toBeUndefined();
  });

  it('does not ask again about a room the connection is in: a rejoin with since replays even while the backend refuses or is down', async () => {
    backend.answer = () => ({ status: 200, body: { allow: true } });
    const client = await connect('remy');
    expect((await client.request('join', { room: 'doc:rejoin' })).event).toBe('joined');
    const first = (await client.request('message', { room: 'doc:rejoin', text: 'one' })).data as { seq: string };
    expect((await client.request('message', { room: 'doc:rejoin', text: 'two' })).event).toBe('ack');
    for (const answer of [{ status: 503 }, { status: 200, body: { allow: false } }]) {
      backend.answer = () => answer;
      const replayed = client.all('message').length;
      expect(await client.request('join', { room: 'doc:rejoin', since: first.seq })).toMatchObject({ event: 'joined', data: { room: 'doc:rejoin', recovered: true, missed: 1 } });
      await eventually(() => expect(client.all('message').slice(replayed).map((frame) => (frame.data as { text: string }).text)).toEqual(['two']));
    }
    expect(asked('doc:rejoin')).toHaveLength(1);
    // Still a member: its messages are acknowledged, and a leave answers left.
    expect((await client.request('message', { room: 'doc:rejoin', text: 'three' })).event).toBe('ack');
    expect((await client.request('leave', { room: 'doc:rejoin' })).event).toBe('left');
    // Out of the room, a join is asked about again, and the backend's refusal stands.
    expect(await client.request('join', { room: 'doc:rejoin' })).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    expect(asked('doc:rejoin')).toHaveLength(2);
  });

  it('reuses an allow for its ttl: two joins, one backend call', async () => {
    backend.answer = () => ({ status: 200, body: { allow: true, ttl: 60 } });
    const first = await connect('theo');
    const second = await connect('theo');
    expect((await first.request('join', { room: 'doc:ttl' })).event).toBe('joined');
    expect((await second.request('join', { room: 'doc:ttl' })).event).toBe('joined');
    expect(asked('doc:ttl')).toHaveLength(1);
    // The decision is per user: someone else is asked about.
    expect((await (await connect('tess')).request('join', { room: 'doc:ttl' })).event).toBe('joined');
    expect(asked('doc:ttl')).toHaveLength(2);
  });

  it('takes any number as a ttl: 0 or less reuses nothing, one too large for a double is cut to a day, a string is no answer', async () => {
    // Two tabs sharing one token, joining one after the other (a connection's own rejoin asks nothing).
    const token = signToken({ sub: 'tara' });
    const [client, otherTab] = [await connectWith(token), await connectWith(token)];
    backend.answer = () => ({ status: 200, rawBody: '{"allow":true,"ttl":-1}' });
    for (const tab of [client, otherTab]) expect((await tab.request('join', { room: 'doc:negative' })).event).toBe('joined');
    expect(asked('doc:negative')).toHaveLength(2);
    backend.answer = () => ({ status: 200, rawBody: '{"allow":true,"ttl":1e309}' });
    for (const tab of [client, otherTab]) expect((await tab.request('join', { room: 'doc:endless' })).event).toBe('joined');
    expect(asked('doc:endless')).toHaveLength(1);
    backend.answer = () => ({ status: 200, rawBody: '{"allow":true,"ttl":"10"}' });
    expect(await client.request('join', { room: 'doc:text' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
  });

  it('asks once for concurrent joins of the same token and room', async () => {
    backend.answer = () => ({ status: 200, body: { allow: true }, delayMs: 100 });
    // Three tabs sharing the token the page stored.
    const token = signToken({ sub: 'cora' });
    const tabs = await Promise.all([connectWith(token), connectWith(token), connectWith(token)]);
    const replies = await Promise.all(tabs.map((tab) => tab.request('join', { room: 'doc:together' })));
    expect(replies.map((reply) => reply.event)).toEqual(['joined', 'joined', 'joined']);
    expect(asked('doc:together')).toHaveLength(1);
  });

  it('never shares a decision between two tokens of one user with different claims, joining at once', async () => {
    // The backend decides on a claim Herald does not know: only org "acme" may open doc:shared.
    backend.answer = (request) => ({ status: 200, body: { allow: request.body.claims.org === 'acme', ttl: 60 }, delayMs: 200 });
    const [acme, evil] = await Promise.all([connect('nina', { org: 'acme' }), connect('nina', { org: 'evil' })]);
    const replies = await Promise.all([acme.request('join', { room: 'doc:shared' }), evil.request('join', { room: 'doc:shared' })]);
    expect(replies[0].event).toBe('joined');
    expect(replies[1]).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    expect(asked('doc:shared').map((request) => request.body.claims.org).sort()).toEqual(['acme', 'evil']);
  });

  it('reuses an allow only for the same claims: a refreshed token keeps it, another org is asked about', async () => {
    backend.answer = (request) => ({ status: 200, body: { allow: request.body.claims.org === 'acme', ttl: 60 } });
    const first = await connect('olaf', { org: 'acme', role: { name: 'editor', team: 7 } });
    expect((await first.request('join', { room: 'doc:cached' })).event).toBe('joined');
    // The same claims in another order, issued later and expiring later: no new question.
    const refreshed = await connect('olaf', { role: { team: 7, name: 'editor' }, org: 'acme', iat: Math.floor(Date.now() / 1000) + 5, ttlS: 7200 });
    expect((await refreshed.request('join', { room: 'doc:cached' })).event).toBe('joined');
    expect(asked('doc:cached')).toHaveLength(1);
    const otherOrg = await connect('olaf', { org: 'evil', role: { name: 'editor', team: 7 } });
    expect(await otherOrg.request('join', { room: 'doc:cached' })).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    const otherRole = await connect('olaf', { org: 'acme', role: { name: 'viewer', team: 7 } });
    expect((await otherRole.request('join', { room: 'doc:cached' })).event).toBe('joined');
    expect(asked('doc:cached')).toHaveLength(3);
  });

  it('leaves, on a refresh, the rooms the new token no longer grants, and keeps those the proxy decides', async () => {
    backend.answer = () => ({ status: 200, body: { allow: true } });
    const client = await connect('rena', { rooms: ['doc:mine', 'chat:*'] });
    for (const room of ['doc:mine', 'chat:1', 'doc:asked']) expect((await client.request('join', { room })).event).toBe('joined');
    const reply = await client.request('refresh', { token: signToken({ sub: 'rena', rooms: [], ttlS: 7200 }) });
    expect(reply.event).toBe('refreshed');
    // The proxy covers doc:*: it decides those rooms at the next join, not the refresh.
    expect(client.all('left').filter((frame) => frame.id === undefined).map((frame) => frame.data.room)).toEqual(['chat:1']);
    for (const room of ['doc:mine', 'doc:asked']) expect((await client.request('message', { room, text: 'still here' })).event).toBe('ack');
  });

  it('answers unavailable, not forbidden, on a 429: the backend asks to retry later', async () => {
    const client = await connect('rita');
    backend.answer = () => ({ status: 429 });
    expect(await client.request('join', { room: 'doc:busy' })).toMatchObject({ event: 'error', data: { code: 'unavailable' } });
    backend.answer = () => ({ status: 200, body: { allow: true } });
    expect((await client.request('join', { room: 'doc:busy' })).event).toBe('joined');
  });

  it('never asks about rooms the token grants, public rooms, unlisted rooms or other users\' rooms', async () => {
    const client = await connect('gus', { rooms: ['doc:mine', 'team:*'] });
    expect((await client.request('join', { room: 'doc:mine' })).event).toBe('joined');
    expect((await client.request('join', { room: 'team:7' })).event).toBe('joined');
    expect((await client.request('join', { room: 'public:lobby' })).event).toBe('joined');
    expect(await client.request('join', { room: 'chat:9' })).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    expect(await client.request('join', { room: 'user:alma' })).toMatchObject({ event: 'error', data: { code: 'forbidden' } });
    expect(backend.requests.filter((request) => request.body?.user === 'gus')).toEqual([]);
  });

  it('counts answers, cache hits and latency in /metrics', async () => {
    const count = async (pattern: RegExp) => Number(pattern.exec((await http('GET', `${pod.url}/metrics`)).body as string)?.[1] ?? 0);
    const allow = /^herald_join_proxy_answers_total\{answer="allow"\} (\d+)/m;
    const deny = /^herald_join_proxy_answers_total\{answer="deny"\} (\d+)/m;
    const timeout = /^herald_join_proxy_answers_total\{answer="timeout"\} (\d+)/m;
    const hits = /^herald_join_proxy_cache_hits_total (\d+)/m;
    const requests = /^herald_join_proxy_request_seconds_count (\d+)/m;
    const before = await Promise.all([allow, deny, timeout, hits, requests].map(count));
    const client = await connect('mia');
    backend.answer = () => ({ status: 200, body: { allow: true, ttl: 60 } });
    await client.request('join', { room: 'doc:m1' });
    await client.request('leave', { room: 'doc:m1' });
    await client.request('join', { room: 'doc:m1' });
    backend.answer = () => ({ status: 200, body: { allow: false } });
    await client.request('join', { room: 'doc:m2' });
    backend.answer = () => 'hang';
    await client.request('join', { room: 'doc:m3' });
    const after = await Promise.all([allow, deny, timeout, hits, requests].map(count));
    expect(after.map((value, i) => value - before[i])).toEqual([1, 1, 1, 1, 3]);
  });
});

describe('join proxy under a burst of joins', () => {
  const CONCURRENCY = 2;
  // Long enough for the test to look at the waiting joins before their deadline on a busy machine.
  const BURST_TIMEOUT_MS = 5000;
  let backend: HookReceiver;
  let pod: TestApp;
  const clients: TestClient[] = [];
  const connect = async (sub: string) => {
    const client = await connectClient(pod.wsUrl, signToken({ sub }));
    clients.push(client);
    return client;
  };
  const waiting = async () => Number(/^herald_join_proxy_waiting (\d+)/m.exec((await http('GET', `${pod.url}/metrics`)).body as string)?.[1]);

  beforeAll(async () => {
    backend = await HookReceiver.start();
    pod = await createTestApp({ JOIN_PROXY_URL: backend.url, JOIN_PROXY_ROOMS: 'doc:*', HOOKS_SECRET, JOIN_PROXY_TIMEOUT_MS: String(BURST_TIMEOUT_MS), JOIN_PROXY_CONCURRENCY: String(CONCURRENCY) });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await pod.close();
    await backend.close();
  });

  it('keeps at most JOIN_PROXY_CONCURRENCY requests open; joins waiting for a slot answer unavailable at the same deadline, never sent', async () => {
    backend.answer = () => 'hang';
    const client = await connect('burst');
    const replies = Promise.all(Array.from({ length: 10 }, (_, i) => client.request('join', { room: `doc:burst-${i}` }, 2 * BURST_TIMEOUT_MS)));
    await eventually(async () => expect(await waiting()).toBe(8));
    await eventually(() => expect(backend.requests).toHaveLength(CONCURRENCY));
    for (const reply of await replies) expect(reply).toMatchObject({ event: 'error', data: { code: 'unavailable', event: 'join' } });
    expect(backend.requests).toHaveLength(CONCURRENCY);
    expect(await waiting()).toBe(0);
    expect((await client.request('ping')).event).toBe('pong');
  });

  it('lets waiting joins through as requests finish, never more than JOIN_PROXY_CONCURRENCY at once', async () => {
    let open = 0;
    let mostOpen = 0;
    backend.answer = () => {
      mostOpen = Math.max(mostOpen, ++open);
      setTimeout(() => open--, 50);
      return { status: 200, body: { allow: true }, delayMs: 50 };
    };
    const client = await connect('turns');
    const rooms = Array.from({ length: 8 }, (_, i) => `doc:turn-${i}`);
    const replies = await Promise.all(rooms.map((room) => client.request('join', { room })));
    expect(replies.map((reply) => reply.event)).toEqual(rooms.map(() => 'joined'));
    expect(mostOpen).toBeLessThanOrEqual(CONCURRENCY);
    // Each asked once. (Slots go in arrival order, RequestSlots' own test; two requests sent a
    // moment apart on two connections may still reach the backend the other way round.)
    expect(backend.requests.filter((request) => request.body?.user === 'turns').map((request) => request.body.room).sort()).toEqual([...rooms].sort());
  });
});
