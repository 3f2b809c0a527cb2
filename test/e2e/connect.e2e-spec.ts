import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import WebSocket from 'ws';
import { Broker, BrokerUnavailableError } from '../../src/broker/broker';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { holdsOffer } from '../../src/gateway/handshake';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http } from '../support/http';
import { rawUpgrade } from '../support/raw-upgrade';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken, TEST_JWT_SECRET } from '../support/tokens';
import { connectClient, openClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('connecting (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), JWT_ISSUER: 'herald-tests', JWT_AUDIENCE: 'herald' })));
  afterAll(() => app.close());
  const token = (claims: Parameters<typeof signToken>[0] = {}) => signToken({ iss: 'herald-tests', aud: 'herald', ...claims });

  it.each(['subprotocol', 'query', 'header'] as const)('admits a token passed by %s and welcomes the connection first', async (via) => {
    const client = await openClient(app.wsUrl, token({ sub: 'alice', name: 'Alice' }), { via });
    const welcome = await client.next();
    expect(welcome.event).toBe('welcome');
    expect(welcome.data).toEqual({
      connectionId: expect.any(String),
      user: 'alice',
      heartbeatMs: 2000,
      maxMessageBytes: 65536,
      rooms: ['user:alice'],
      expiresAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    });
    if (via === 'subprotocol') expect(client.socket.protocol).toBe('herald.v1');
    await client.close();
  });

  it('reports expiresAt null for a token without exp', async () => {
    const client = await openClient(app.wsUrl, token({ ttlS: null }));
    expect((await client.next('welcome')).data.expiresAt).toBeNull();
    await client.close();
  });

  const refusals: [string, () => string | undefined, number, string][] = [
    ['no token', () => undefined, 1008, 'unauthorized'],
    ['a malformed token', () => 'not-a-jwt', 1008, 'unauthorized'],
    ['a bad signature', () => signToken({ iss: 'herald-tests', aud: 'herald' }, 'another-secret-that-is-long-enough'), 1008, 'unauthorized'],
    ['a wrong issuer', () => signToken({ iss: 'someone-else', aud: 'herald' }), 1008, 'unauthorized'],
    ['a wrong audience', () => signToken({ iss: 'herald-tests', aud: 'other' }), 1008, 'unauthorized'],
    ['a token without sub', () => signToken({ iss: 'herald-tests', aud: 'herald', sub: undefined }), 1008, 'unauthorized'],
    ['a sub too long to name user:<sub>', () => signToken({ iss: 'herald-tests', aud: 'herald', sub: 'u'.repeat(124) }), 1008, 'unauthorized'],
    ['a sub with characters no room name has', () => signToken({ iss: 'herald-tests', aud: 'herald', sub: 'bob smith' }), 1008, 'unauthorized'],
    ['a non-array rooms claim', () => signToken({ iss: 'herald-tests', aud: 'herald', rooms: 'chat:*' as unknown as string[] }), 1008, 'unauthorized'],
    ['an expired token', () => signToken({ iss: 'herald-tests', aud: 'herald', ttlS: -10 }), 4001, 'token_expired'],
    // Once admitted and then refused with 1013, as if the broker had failed: its welcome's expiresAt could not be written.
    ['an exp later than any date', () => signToken({ iss: 'herald-tests', aud: 'herald', ttlS: 1e13 }), 1008, 'unauthorized'],
  ];
  it.each(refusals)('refuses %s with close code %d and sends nothing else', async (_, makeToken, code, reason) => {
    const client = await openClient(app.wsUrl, makeToken(), { via: makeToken() === undefined ? 'none' : 'subprotocol' });
    expect(await client.closed).toEqual({ code, reason });
    expect(client.frames).toEqual([]);
  });

  it('refuses an expired token passed in the query string too', async () => {
    const client = await openClient(app.wsUrl, token({ ttlS: -10 }), { via: 'query' });
    expect(await client.closed).toEqual({ code: 4001, reason: 'token_expired' });
  });

  it('never adds a refused connection to a room', async () => {
    const hub = app.app.get(ConnectionHub);
    const before = hub.stats();
    const client = await openClient(app.wsUrl, signToken({ sub: 'mallory' }, 'wrong-secret-but-long-enough-xx'));
    await client.closed;
    expect(hub.stats()).toEqual(before);
    expect(hub.stats().users).toBe(0);
  });

  it('refuses with 1013 a connection whose admission fails at the broker, and keeps nothing of it', async () => {
    const hub = app.app.get(ConnectionHub);
    const before = hub.stats();
    // The broker must make a round trip for this room (no subscribeNow), and that round trip fails.
    const subscribeNow = jest.spyOn(app.app.get(Broker), 'subscribeNow').mockReturnValueOnce(false);
    const subscribe = jest.spyOn(app.app.get(Broker), 'subscribe').mockRejectedValueOnce(new BrokerUnavailableError());
    try {
      const client = await openClient(app.wsUrl, token({ sub: 'unlucky' }));
      expect(await client.closed).toEqual({ code: 1013, reason: 'try_again_later' });
      expect(client.frames).toEqual([]);
      await eventually(() => expect(hub.stats()).toEqual(before));
      expect(subscribe).toHaveBeenCalledTimes(1);
    } finally {
      subscribe.mockRestore();
      subscribeNow.mockRestore();
    }
  });

  it('keeps nothing of a client that hangs up while its admission waits for the broker', async () => {
    const hub = app.app.get(ConnectionHub);
    const before = hub.stats();
    const broker = app.app.get(Broker);
    const subscribe = broker.subscribe.bind(broker);
    let subscribing!: () => void;
    const subscribed = new Promise<void>((resolve) => (subscribing = resolve));
    // The personal room needs a round trip, which answers only once the client has gone.
    const subscribeNow = jest.spyOn(broker, 'subscribeNow').mockReturnValueOnce(false);
    const slow = jest.spyOn(broker, 'subscribe').mockImplementationOnce(async (room) => {
      await subscribed;
      return subscribe(room);
    });
    try {
      const client = rawUpgrade(app.wsUrl, { token: token({ sub: 'impatient' }) });
      await eventually(() => expect(slow).toHaveBeenCalled());
      // The 101 response waits to leave with welcome: the client has heard nothing yet.
      expect(client.received()).toBe('');
      client.hangUp();
      await eventually(() => expect(hub.stats().connections).toBe(before.connections));
      subscribing();
      await eventually(() => expect(hub.stats()).toEqual(before));
      await client.closed;
      expect(client.received()).toBe('');
    } finally {
      slow.mockRestore();
      subscribeNow.mockRestore();
    }
  });

  it('survives a refused client that sends an invalid frame before its close reply', async () => {
    // A handshake followed at once by an unmasked frame, which ws reports as an 'error' on the
    // server socket while Herald is still refusing the token.
    const { closed } = rawUpgrade(app.wsUrl, { token: 'not-a-jwt' }, Buffer.from([0x81, 0x02, 0x68, 0x69])); // then FIN text "hi", unmasked
    expect(await closed).toMatch(/^HTTP\/1.1 101 /);
    const next = await connectClient(app.wsUrl, token());
    expect(next.frames[0].event).toBe('welcome');
    await next.close();
  });
});

/** Checks an upgrade's refusal is a complete response with `statusLine` that closes; returns its body. */
function expectCompleteRefusal(response: string, statusLine: string): string {
  const [head, body] = response.split('\r\n\r\n');
  expect(head.split('\r\n')[0]).toBe(statusLine);
  expect(head).toMatch(/\r\nConnection: close\r\n/);
  expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
  return body;
}

describe('an admission that waits for the broker', () => {
  const broker = useBroker('redis');

  it("sends the 101 response and welcome in one write, as an admission done in the handshake's turn does", async () => {
    // With a channel per personal room, admission waits for the room's SUBSCRIBE.
    const app = await createTestApp({ ...broker.env(), REDIS_PERSONAL_CHANNELS: '0' });
    try {
      const upgrade = rawUpgrade(app.wsUrl, { token: signToken({ sub: 'ann' }) });
      const first = await upgrade.firstChunk;
      expect(first).toMatch(/^HTTP\/1\.1 101 /);
      expect(first).toContain('"event":"welcome"');
    } finally {
      await app.close();
    }
  });
});

describe('an upgrade on a path no WebSocket server serves', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ WS_PATH: '/realtime' })));
  afterAll(() => app.close());

  it.each(['/realtime/', '/REALTIME', '/ws', '/healthz', '/realtime/../ws'])('%s is answered with a complete 404 naming WS_PATH, and the server goes on', async (path) => {
    // Written raw: a WebSocket client would resolve `..` and not show the answer.
    const response = await rawUpgrade(app.wsUrl, { path, headers: 'Sec-WebSocket-Protocol: herald.v1\r\n' }).closed;
    const body = expectCompleteRefusal(response, 'HTTP/1.1 404 Not Found');
    expect(body).toBe('No WebSocket endpoint at this path; connect to /realtime');
    const next = await connectClient(app.wsUrl, signToken({ sub: 'after-404' }));
    expect(next.frames[0].event).toBe('welcome');
    await next.close();
  });
});

describe('an upgrade whose URL cannot be read', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it('is answered with a complete 400 response that repeats nothing it was sent, and the server goes on', async () => {
    const response = await rawUpgrade(app.wsUrl, { host: 'bad host<x>' }).closed;
    const body = expectCompleteRefusal(response, 'HTTP/1.1 400 Bad Request');
    expect(body).toMatch(/not valid/);
    expect(response).not.toContain('<x>');
    const next = await connectClient(app.wsUrl, signToken({ sub: 'after' }));
    expect(next.frames[0].event).toBe('welcome');
    await next.close();
  });
});

describe('connection limits and origins', () => {
  it('closes connections past MAX_CONNECTIONS with 1013', async () => {
    const app = await createTestApp({ MAX_CONNECTIONS: '2' });
    try {
      const first = await connectClient(app.wsUrl, signToken({ sub: 'a' }));
      const second = await connectClient(app.wsUrl, signToken({ sub: 'b' }));
      const third = await openClient(app.wsUrl, signToken({ sub: 'c' }));
      expect(await third.closed).toEqual({ code: 1013, reason: 'try_again_later' });
      await first.close();
      // A freed slot admits the next connection.
      const fourth = await connectClient(app.wsUrl, signToken({ sub: 'd' }));
      await Promise.all([second.close(), fourth.close()]);
    } finally {
      await app.close();
    }
  });

  it('closes a user\'s connections past MAX_CONNECTIONS_PER_USER with 1013, counting only that user\'s', async () => {
    const app = await createTestApp({ MAX_CONNECTIONS_PER_USER: '2' });
    try {
      // Opened at once: the first two admitted are the two it may hold.
      const attempts = await Promise.all([1, 2, 3, 4].map(() => openClient(app.wsUrl, signToken({ sub: 'ann' }))));
      await eventually(() => expect(attempts.filter((client) => client.frames[0]?.event === 'welcome')).toHaveLength(2));
      const refused = attempts.filter((client) => client.frames[0]?.event !== 'welcome');
      for (const client of refused) expect(await client.closed).toEqual({ code: 1013, reason: 'try_again_later' });
      // Another user is not affected.
      const bob = await connectClient(app.wsUrl, signToken({ sub: 'bob' }));
      const metrics = (await http('GET', `${app.url}/metrics`)).body as string;
      expect(metrics).toContain('herald_rejected_connections_total{reason="max_connections_per_user"} 2');
      // A freed place admits the user again.
      await attempts.find((client) => client.frames[0]?.event === 'welcome')!.close();
      await eventually(async () => {
        const again = await openClient(app.wsUrl, signToken({ sub: 'ann' }));
        await eventually(() => expect(again.frames[0]?.event ?? again.closeInfo).toBeDefined());
        expect(again.frames[0]?.event).toBe('welcome');
        await again.close();
      });
      await Promise.all([bob.close(), ...attempts.map((client) => client.close())]);
    } finally {
      await app.close();
    }
  });

  it('refuses a browser Origin not in ALLOWED_ORIGINS with 1008 origin_not_allowed', async () => {
    const app = await createTestApp({ ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com' });
    try {
      const bad = await openClient(app.wsUrl, signToken(), { headers: { origin: 'https://evil.example.com' } });
      expect(await bad.closed).toEqual({ code: 1008, reason: 'origin_not_allowed' });
      // Refused before admission read its token: the handshake's memo of the offer keeps none of it.
      expect(holdsOffer()).toBe(false);
      const good = await connectClient(app.wsUrl, signToken(), { headers: { origin: 'https://admin.example.com' } });
      // Non-browser clients send no Origin and are not affected.
      const server = await connectClient(app.wsUrl, signToken());
      await Promise.all([good.close(), server.close()]);
    } finally {
      await app.close();
    }
  });

  it('counts every close once by code, and direct frames by event', async () => {
    const app = await createTestApp();
    try {
      const refused = await openClient(app.wsUrl, 'not-a-token');
      await refused.closed;
      const client = await connectClient(app.wsUrl, signToken());
      await client.join('public:metrics');
      await client.close(1000);
      // Codes of the client's own choosing (3000-4999) share one label: no series per code.
      for (const code of [3001, 3999, 4777]) await (await connectClient(app.wsUrl, signToken())).close(code);
      const metrics = await eventually(async () => {
        const text = await (await fetch(`${app.url}/metrics`)).text();
        expect(text).toContain('herald_close_codes_total{code="1000"} 1');
        expect(text).toContain('herald_close_codes_total{code="other"} 3');
        return text;
      });
      expect(metrics).not.toMatch(/herald_close_codes_total\{code="(3001|3999|4777)"\}/);
      expect(metrics).toContain('herald_close_codes_total{code="1008"} 1');
      expect(metrics).toContain('herald_rejected_connections_total{reason="unauthorized"} 1');
      // The client above and the three that chose their own codes.
      expect(metrics).toContain('herald_frames_out_total{event="welcome"} 4');
      expect(metrics).toContain('herald_frames_out_total{event="joined"} 1');
    } finally {
      await app.close();
    }
  });

  it('refuses a source carrying two tokens with 1008, whatever the other sources hold', async () => {
    const app = await createTestApp();
    try {
      const [alice, bob] = [signToken({ sub: 'alice' }), signToken({ sub: 'bob' })];
      const closeOf = (socket: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      const attempts = [
        new WebSocket(app.wsUrl, ['herald.v1', `bearer.${alice}`, `bearer.${bob}`]),
        new WebSocket(`${app.wsUrl}?token=${alice}&token=${bob}`),
        new WebSocket(`${app.wsUrl}?token=${alice}&token=`),
        // A source that would win alone does not hide another source's two tokens.
        new WebSocket(`${app.wsUrl}?token=${alice}&token=${bob}`, { headers: { authorization: `Bearer ${alice}` } }),
        new WebSocket(`${app.wsUrl}?token=${alice}&token=${bob}`, ['herald.v1', `bearer.${alice}`]),
      ];
      for (const socket of attempts) expect(await closeOf(socket)).toEqual({ code: 1008, reason: 'unauthorized' });
      // The sources stay independent: a well-formed query token alone is admitted.
      await (await connectClient(app.wsUrl, alice, { via: 'query' })).close();
    } finally {
      await app.close();
    }
  });

  it('requires exp in production', async () => {
    const app = await createTestApp({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET });
    try {
      const client = await openClient(app.wsUrl, signToken({ ttlS: null }));
      expect(await client.closed).toEqual({ code: 1008, reason: 'unauthorized' });
      await (await connectClient(app.wsUrl, signToken())).close();
    } finally {
      await app.close();
    }
  });
});

describe('connecting, configured', () => {
  it('verifies ES256 tokens with JWT_PUBLIC_KEY, and refuses HS256 ones then', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const app = await createTestApp({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    try {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const unsigned = `${encode({ alg: 'ES256', typ: 'JWT' })}.${encode({ sub: 'ivy', exp: Math.floor(Date.now() / 1000) + 600 })}`;
      const signature = sign('sha256', Buffer.from(unsigned), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      const client = await connectClient(app.wsUrl, `${unsigned}.${signature}`);
      expect(client.frames[0].data.user).toBe('ivy');
      await client.close();
      const hs256 = await openClient(app.wsUrl, signToken({ sub: 'ivy' }));
      expect(await hs256.closed).toEqual({ code: 1008, reason: 'unauthorized' });
    } finally {
      await app.close();
    }
  });

  it('with JWT_SECRET and JWT_PUBLIC_KEY both set (a move to keys), verifies each token by its alg, and never takes the public key for an HMAC secret', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const app = await createTestApp({ JWT_PUBLIC_KEY: publicPem });
    try {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const claims = encode({ sub: 'ivy', exp: Math.floor(Date.now() / 1000) + 600 });
      const es256 = `${encode({ alg: 'ES256', typ: 'JWT' })}.${claims}`;
      const es256Signature = sign('sha256', Buffer.from(es256), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      const viaKey = await connectClient(app.wsUrl, `${es256}.${es256Signature}`);
      expect(viaKey.frames[0].data.user).toBe('ivy');
      await viaKey.close();
      const viaSecret = await connectClient(app.wsUrl, signToken({ sub: 'ivy' }));
      expect(viaSecret.frames[0].data.user).toBe('ivy');
      await viaSecret.close();
      // The classic confusion: HS256 "signed" with the public key's PEM as the HMAC secret.
      const confused = `${encode({ alg: 'HS256', typ: 'JWT' })}.${claims}`;
      const confusedSignature = createHmac('sha256', publicPem).update(confused).digest('base64url');
      const forged = await openClient(app.wsUrl, `${confused}.${confusedSignature}`);
      expect(await forged.closed).toEqual({ code: 1008, reason: 'unauthorized' });
    } finally {
      await app.close();
    }
  });

  it('serves WebSockets on WS_PATH', async () => {
    const app = await createTestApp({ WS_PATH: '/realtime' });
    try {
      expect(app.wsUrl).toMatch(/\/realtime$/);
      const client = await connectClient(app.wsUrl, signToken());
      expect(client.frames[0].event).toBe('welcome');
      await client.close();
    } finally {
      await app.close();
    }
  });

  it('echoes bearer.<JWT> when a client offers only that protocol', async () => {
    const app = await createTestApp();
    try {
      const token = signToken({ sub: 'solo' });
      const socket = new WebSocket(app.wsUrl, [`bearer.${token}`]);
      const welcome = await new Promise<string>((resolve, reject) => {
        socket.once('message', (data) => resolve(data.toString()));
        socket.once('error', reject);
      });
      expect(socket.protocol).toBe(`bearer.${token}`);
      expect(JSON.parse(welcome).event).toBe('welcome');
      socket.close();
    } finally {
      await app.close();
    }
  });
});

