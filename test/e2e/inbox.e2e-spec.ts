import { IncomingMessage, request as httpRequest } from 'node:http';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('inbox (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  let other: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ ...broker.env(), INBOX_SIZE: '7' });
    // A second pod on the same Redis; on the memory broker a pod of its own, used for isolation checks.
    other = await createTestApp({ ...broker.env(), INBOX_SIZE: '7' });
  });
  afterAll(async () => {
    await app.close();
    await other.close();
  });

  const inbox = (user: string, query = '', base = app.url) => http('GET', `${base}/v1/inbox${query}`, { token: signToken({ sub: user }) });
  const markRead = (user: string, body: unknown, base = app.url) => http('POST', `${base}/v1/inbox/read`, { token: signToken({ sub: user }), body });
  const notify = async (user: string, count: number, from = 0) => {
    const ids: string[] = [];
    for (let i = from; i < from + count; i++) {
      const response = await publish(app.url, { users: [user], type: 'note', payload: { title: `n${i}` }, id: `${user}-${i}` });
      expect(response.status).toBe(202);
      ids.push(response.body.id);
    }
    return ids;
  };

  it('keeps personal notifications newest first, unread, with their own seq and timestamp', async () => {
    const user = `ann-${kind}`;
    const client = await connectClient(app.wsUrl, signToken({ sub: user }));
    await notify(user, 3);
    await publish(app.url, { rooms: [`user:${user}`], type: 'by-room', payload: {}, id: `${user}-room` });
    await publish(app.url, { rooms: ['public:news'], type: 'not-personal', payload: {} });
    await eventually(() => expect(client.all('notification')).toHaveLength(4));
    const response = await inbox(user);
    expect(response.status).toBe(200);
    expect(response.body.unread).toBe(4);
    expect(response.body.next).toBeNull();
    expect(response.body.items.map((item: { id: string }) => item.id)).toEqual([`${user}-room`, `${user}-2`, `${user}-1`, `${user}-0`]);
    const live = client.all('notification').find((frame) => frame.data.id === `${user}-1`)!.data;
    expect(response.body.items[2]).toEqual({ id: live.id, seq: live.seq, type: 'note', payload: { title: 'n1' }, timestamp: live.timestamp, read: false });
    await client.close();
  });

  it('pages with before, returning every item once', async () => {
    const user = `ben-${kind}`;
    await notify(user, 7);
    const seen: string[] = [];
    let query = '?limit=3';
    const unreadCounts: number[] = [];
    for (;;) {
      const page = await inbox(user, query);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((item: { id: string }) => item.id));
      unreadCounts.push(page.body.unread);
      if (page.body.next === null) break;
      query = `?limit=3&before=${encodeURIComponent(page.body.next)}`;
    }
    expect(seen).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => `${user}-${i}`));
    expect(unreadCounts).toEqual([7, 7, 7]);
  });

  it('keeps only the newest INBOX_SIZE items', async () => {
    const user = `cal-${kind}`;
    await notify(user, 10);
    const page = await inbox(user, '?limit=100');
    expect(page.body.items.map((item: { id: string }) => item.id)).toEqual([9, 8, 7, 6, 5, 4, 3].map((i) => `${user}-${i}`));
    expect(page.body.unread).toBe(7);
  });

  it("marks some, then all, read and tells the user's other connections on every pod", async () => {
    const user = `dee-${kind}`;
    const ids = await notify(user, 4);
    const here = await connectClient(app.wsUrl, signToken({ sub: user }));
    const there = await connectClient((kind === 'redis' ? other : app).wsUrl, signToken({ sub: user }));
    const some = await markRead(user, { ids: [ids[0], ids[2], 'unknown-id'] });
    expect(some).toMatchObject({ status: 200, body: { unread: 2 } });
    for (const client of [here, there]) expect((await client.next('inbox')).data).toEqual({ unread: 2, read: [ids[0], ids[2]] });
    const page = await inbox(user);
    expect(page.body.items.map((item: { read: boolean }) => item.read)).toEqual([false, true, false, true]);

    // Marking the same ids again changes nothing and sends nothing.
    expect((await markRead(user, { ids: [ids[0]] })).body).toEqual({ unread: 2 });
    expect((await markRead(user, { all: true })).body).toEqual({ unread: 0 });
    for (const client of [here, there]) expect((await client.next('inbox')).data).toEqual({ unread: 0, read: 'all' });
    expect(here.all('inbox')).toHaveLength(2);
    expect((await inbox(user)).body.unread).toBe(0);
    // The inbox event is not a notification: it never enters history or the inbox.
    expect((await inbox(user)).body.items).toHaveLength(4);
    await Promise.all([here.close(), there.close()]);
  });

  it("shows another user's token nothing of it", async () => {
    const user = `eve-${kind}`;
    const ids = await notify(user, 2);
    expect((await inbox(`mallory-${kind}`)).body).toEqual({ items: [], unread: 0, next: null });
    expect((await markRead(`mallory-${kind}`, { ids })).body).toEqual({ unread: 0 });
    expect((await inbox(user)).body.unread).toBe(2);
  });

  it.each([
    ['limit 0', '?limit=0', 'limit'],
    ['limit 101', '?limit=101', 'limit'],
    ['a non-numeric limit', '?limit=ten', 'limit'],
    ['a hexadecimal limit', '?limit=0x10', 'limit'],
    ['a limit in exponent form', '?limit=1e1', 'limit'],
    ['an empty limit', '?limit=', 'limit'],
    ['two limits', '?limit=3&limit=4', 'limit'],
    ['a malformed before', '?before=yesterday', 'before'],
    // Seq-like, but no seq this service writes: compared as strings, each would page wrongly.
    ['a before with an unpadded position', '?before=000000000abc-2', 'before'],
    ['a before with a short epoch', '?before=zz-000000000001', 'before'],
    ['a before with an upper-case epoch', '?before=ZZZZZZZZZZZZ-000000000001', 'before'],
  ])('answers 400 naming the field for %s', async (_, query, field) => {
    const response = await inbox(`fay-${kind}`, query);
    expect(response.status).toBe(400);
    // Each message starts with the field it is about (docs/protocol.md).
    for (const message of response.body.message) expect(message).toMatch(new RegExp(`^${field} `));
  });

  it.each([
    ['an empty body', {}, 'ids'],
    ['an empty ids list', { ids: [] }, 'ids'],
    ['ids that is not a list', { ids: 'a' }, 'ids'],
    ['ids with a non-string', { ids: ['a', 3] }, 'ids'],
    ['all that is not true', { all: false }, 'all'],
    ['both ids and all', { ids: ['a'], all: true }, 'ids'],
  ])('answers 400 naming the field for %s and changes nothing', async (_, body, field) => {
    const user = `gus-${kind}`;
    const [id] = await notify(user, 1);
    const response = await markRead(user, body);
    expect(response.status).toBe(400);
    // Each message starts with the field it is about (docs/protocol.md).
    for (const message of response.body.message) expect(message).toMatch(new RegExp(`^${field} `));
    expect((await inbox(user)).body.items.find((item: { id: string }) => item.id === id).read).toBe(false);
  });

  it.each([
    ['no ids and no all', {}, 'ids must be a non-empty list of notification ids (or send {"all": true})'],
    ['ids: null', { ids: null }, 'ids must be a non-empty list of notification ids (or send {"all": true})'],
    ['1001 ids', { ids: Array.from({ length: 1001 }, (_, i) => `n${i}`) }, 'ids must hold at most 1000 ids (or send {"all": true})'],
    ['an id of 129 characters', { ids: ['x'.repeat(129)] }, 'ids must contain only strings of at most 128 characters'],
  ])('answers %s with the one message that applies', async (_, body, message) => {
    expect(await markRead(`ida-${kind}`, body)).toMatchObject({ status: 400, body: { message: [message] } });
  });

  it('marks read any id a publish accepted, counting characters as the publish does (128 emoji, 256 UTF-16 units)', async () => {
    const user = `ike-${kind}`;
    const id = '😀'.repeat(127) + (kind === 'redis' ? 'r' : 'm');
    expect((await publish(app.url, { users: [user], type: 'note', payload: {}, id })).status).toBe(202);
    expect(await markRead(user, { ids: [id] })).toMatchObject({ status: 200, body: { unread: 0 } });
    expect((await inbox(user)).body).toMatchObject({ unread: 0, items: [{ id, read: true }] });
    expect((await publish(app.url, { users: [user], type: 'note', payload: {}, id: `${id}x` })).status).toBe(400);
    expect((await markRead(user, { ids: [`${id}x`] })).status).toBe(400);
  });

  it('refuses ids with lone surrogates, which Redis would read as another id, and marks nothing', async () => {
    const user = `hana-${kind}`;
    const id = `P\ufffd-${kind}`;
    expect((await publish(app.url, { users: [user], type: 'note', payload: {}, id })).status).toBe(202);
    const response = await markRead(user, { ids: [`P\ud800-${kind}`] });
    expect(response).toMatchObject({ status: 400, body: { message: ['ids must contain only strings that are well-formed Unicode (no lone surrogates)'] } });
    expect((await inbox(user)).body).toMatchObject({ unread: 1, items: [{ id, read: false }] });
  });

  it.each([
    ['no token', null],
    ['a forged token', signToken({ sub: 'x' }, 'forged-secret-that-is-long-enough')],
    ['an expired token', signToken({ sub: 'x', ttlS: -5 })],
  ])('answers 401 for %s', async (_, token) => {
    expect((await http('GET', `${app.url}/v1/inbox`, { token })).status).toBe(401);
    expect((await http('POST', `${app.url}/v1/inbox/read`, { token, body: { all: true } })).status).toBe(401);
  });

  if (kind === 'redis') {
    it('survives a restart of every pod', async () => {
      const user = 'hal-restart';
      await notify(user, 3);
      await markRead(user, { ids: [`${user}-0`] });
      await app.close();
      await other.close();
      app = await createTestApp({ ...broker.env(), INBOX_SIZE: '7' });
      other = await createTestApp({ ...broker.env(), INBOX_SIZE: '7' });
      const page = await inbox(user, '', other.url);
      expect(page.body.unread).toBe(2);
      expect(page.body.items.map((item: { id: string; read: boolean }) => `${item.id}:${item.read}`)).toEqual([`${user}-2:false`, `${user}-1:false`, `${user}-0:true`]);
    });
  }
});

describe('the in-memory inbox budget (embedded broker)', () => {
  it('drops the least recently written inboxes past INBOX_MEMORY_MAX_MB, keeps the newest, and counts the drops', async () => {
    const app = await createTestApp({ INBOX_MEMORY_MAX_MB: '1' });
    try {
      const blob = 'x'.repeat(50_000);
      // 30 users x 50 KB: half again the budget, written oldest first.
      const users = Array.from({ length: 30 }, (_, i) => `budget${i}`);
      for (const user of users) expect((await publish(app.url, { users: [user], type: 'big', payload: { blob } })).status).toBe(202);
      const inboxOf = async (user: string) => (await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: user }) })).body.items.length;
      expect(await inboxOf('budget0')).toBe(0);
      expect(await inboxOf('budget29')).toBe(1);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(Number(/^herald_inbox_evictions_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });
});

describe('CORS for the HTTP API', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ALLOWED_ORIGINS: 'https://app.example.com' })));
  afterAll(() => app.close());

  it('grants a listed origin GET and POST with authorization and content-type', async () => {
    const preflight = await fetch(`${app.url}/v1/inbox/read`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/GET/);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/authorization/);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/content-type/);
    const response = await fetch(`${app.url}/v1/inbox`, { headers: { origin: 'https://app.example.com', authorization: `Bearer ${signToken()}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });

  it('grants an unlisted origin nothing', async () => {
    const preflight = await fetch(`${app.url}/v1/inbox`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // Not even the methods and headers a listed origin gets: the preflight is routed like any request.
    expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
    expect(preflight.status).toBe(404);
    const response = await fetch(`${app.url}/v1/inbox`, { headers: { origin: 'https://evil.example.com', authorization: `Bearer ${signToken()}` } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    // A lookalike of a listed origin is unlisted.
    const lookalike = await fetch(`${app.url}/v1/inbox`, { method: 'OPTIONS', headers: { origin: 'https://APP.example.com', 'access-control-request-method': 'GET' } });
    expect(lookalike.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a listed origin\'s OPTIONS that is not a preflight of a route 404 in the error shape, with its grant of origin only', async () => {
    const asked: Array<[string, Record<string, string>]> = [
      // Not a preflight at all: no Access-Control-Request-Method.
      ['/v1/inbox', {}],
      ['/nope', {}],
      // A preflight of a path no route serves, or of a method the path has no route for.
      ['/nope', { 'access-control-request-method': 'GET' }],
      ['/v1/inbox', { 'access-control-request-method': 'POST' }],
      ['/v1/inbox/read', { 'access-control-request-method': 'DELETE' }],
    ];
    for (const [path, headers] of asked) {
      const response = await fetch(`${app.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', ...headers } });
      expect({ path, headers, status: response.status, body: await response.json() }).toEqual({ path, headers, status: 404, body: { statusCode: 404, error: 'Not Found', message: `Cannot OPTIONS ${path}` } });
      expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(response.headers.get('access-control-allow-methods')).toBeNull();
    }
    // A route matches its preflight as it matches its requests: regardless of case, a trailing slash and the query.
    const preflight = await fetch(`${app.url}/V1/Inbox/?limit=5`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/GET/);
  });

  it('grants no preflight on PORT for the service routes INTERNAL_PORT moves away', async () => {
    const split = await createTestApp({ ALLOWED_ORIGINS: 'https://app.example.com', INTERNAL_PORT: '0' });
    try {
      const preflight = (url: string, method: string) => fetch(url, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': method } });
      for (const [path, method] of [['/v1/notifications', 'POST'], ['/v1/notifications/batch', 'POST'], ['/v1/rooms/chat/presence', 'GET'], ['/metrics', 'GET']]) {
        const response = await preflight(`${split.url}${path}`, method);
        expect([path, response.status, response.headers.get('access-control-allow-methods')]).toEqual([path, 404, null]);
      }
      expect((await preflight(`${split.url}/v1/inbox/read`, 'POST')).status).toBe(204);
    } finally {
      await split.close();
    }
  });

  it('answers any OPTIONS request but a listed origin\'s preflight 404 without reading its body', async () => {
    const bad: Array<[string, string]> = [
      ['application/json', '{'],
      ['application/json', `{"a":${'['.repeat(40)}${']'.repeat(40)}}`],
      ['application/json', 'x'.repeat(200_000)],
      ['text/plain', 'hello'],
    ];
    // A listed origin's OPTIONS without Access-Control-Request-Method is no preflight either.
    for (const origin of [undefined, 'https://evil.example.com', 'https://app.example.com']) {
      for (const [type, body] of bad) {
        for (const path of ['/v1/inbox', '/v1/inbox/read', '/nope']) {
          const response = await fetch(`${app.url}${path}`, { method: 'OPTIONS', headers: { 'content-type': type, ...(origin ? { origin } : {}) }, body });
          expect({ path, origin, status: response.status, body: await response.json() }).toEqual({ path, origin, status: 404, body: { statusCode: 404, error: 'Not Found', message: `Cannot OPTIONS ${path}` } });
        }
      }
    }
  });

  it('grants a listed origin its 400 for a path that is not a valid URL path, as any other answer', async () => {
    const listed = await fetch(`${app.url}/v1/inbox%ZZ`, { headers: { origin: 'https://app.example.com', authorization: `Bearer ${signToken()}` } });
    expect(listed.status).toBe(400);
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(listed.headers.get('vary')).toMatch(/Origin/i);
    const unlisted = await fetch(`${app.url}/v1/inbox%ZZ`, { headers: { origin: 'https://evil.example.com' } });
    expect(unlisted.status).toBe(400);
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('grants a listed origin its 417 for an Expect other than 100-continue, as any other answer', async () => {
    // fetch refuses to send an Expect header.
    const answer = (origin: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const request = httpRequest(`${app.url}/v1/inbox`, { headers: { origin, expect: 'something-else' } }, (response) => resolve(response.resume()));
        request.on('error', reject).end();
      });
    const listed = await answer('https://app.example.com');
    expect([listed.statusCode, listed.headers['access-control-allow-origin'], listed.headers.vary]).toEqual([417, 'https://app.example.com', 'Origin']);
    const unlisted = await answer('https://evil.example.com');
    expect([unlisted.statusCode, unlisted.headers['access-control-allow-origin']]).toEqual([417, undefined]);
  });

  it('answers an OPTIONS request without an Origin in the error shape, granting nothing', async () => {
    const response = await fetch(`${app.url}/v1/notifications`, { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('access-control-allow-methods')).toBeNull();
    expect(await response.json()).toEqual({ statusCode: 404, message: expect.stringContaining('OPTIONS'), error: 'Not Found' });
  });
});

describe('inbox paging defaults', () => {
  it('returns 50 items when no limit is given, with a cursor to the rest', async () => {
    const app = await createTestApp({ INBOX_SIZE: '60' });
    try {
      for (let i = 0; i < 55; i++) expect((await publish(app.url, { users: ['pat'], type: 'note', payload: { n: i } })).status).toBe(202);
      const first = await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: 'pat' }) });
      expect(first.body.items).toHaveLength(50);
      expect(first.body.unread).toBe(55);
      expect(first.body.next).toEqual(expect.any(String));
      const rest = await http('GET', `${app.url}/v1/inbox?before=${encodeURIComponent(first.body.next)}`, { token: signToken({ sub: 'pat' }) });
      expect(rest.body.items.map((item: { payload: { n: number } }) => item.payload.n)).toEqual([4, 3, 2, 1, 0]);
      expect(rest.body.next).toBeNull();
    } finally {
      await app.close();
    }
  });
});

describe.each(BROKER_KINDS)('inbox pages by size (%s broker)', (kind) => {
  const broker = useBroker(kind);

  it('ends a page before the item that would pass INBOX_PAGE_MAX_BYTES, never before its first, with next leading on to every item once', async () => {
    const app = await createTestApp({ ...broker.env(), INBOX_SIZE: '20', INBOX_PAGE_MAX_BYTES: '70000' });
    try {
      const token = signToken({ sub: 'big-inbox' });
      // Seven of about 30 KB, and one of 60 KB (alone on its page: the first item always goes).
      for (let i = 0; i < 8; i++) {
        const blob = 'x'.repeat(i === 3 ? 60_000 : 30_000);
        expect((await publish(app.url, { users: ['big-inbox'], type: 'big', payload: { i, blob }, id: `big-${i}` })).status).toBe(202);
      }
      const pages: number[][] = [];
      let before: string | null = null;
      do {
        const query: string = before === null ? '?limit=100' : `?limit=100&before=${encodeURIComponent(before)}`;
        const page = await http('GET', `${app.url}/v1/inbox${query}`, { token });
        expect(page.status).toBe(200);
        expect(page.body.unread).toBe(8);
        pages.push(page.body.items.map((item: { payload: { i: number } }) => item.payload.i));
        before = page.body.next;
      } while (before !== null && pages.length < 10);
      expect(pages).toEqual([[7, 6], [5, 4], [3], [2, 1], [0]]);
    } finally {
      await app.close();
    }
  });
});
