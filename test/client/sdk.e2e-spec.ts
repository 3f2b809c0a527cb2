import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { HeraldClient, PublishClient, connect, type DisconnectEvent, type HeraldClientOptions, type RecoveryEvent } from '@herald/client';
import { eventually } from '../support/eventually';
import { startedTogether } from '../support/started-together';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { closeEveryConnection } from './herald-server';

jest.setTimeout(15_000);

describe('the SDK against a real Herald', () => {
  let app: TestApp;
  let publisher: PublishClient;
  const clients: HeraldClient[] = [];

  beforeAll(async () => {
    app = await createTestApp();
    publisher = new PublishClient({ baseUrl: app.url, token: publisherToken() });
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });
  afterAll(() => app.close());

  /** A client of `server` and what it saw; closed after the test, unless `ownClose` (a case that closes it itself). */
  function open(options: HeraldClientOptions, { server = app, ownClose = false }: { server?: TestApp; ownClose?: boolean } = {}) {
    const client = connect(server.wsUrl, { WebSocket, ...options });
    if (!ownClose) clients.push(client);
    const seen = { notifications: [] as string[], byRoom: new Map<string, string[]>(), disconnects: [] as DisconnectEvent[], recoveries: [] as RecoveryEvent[], welcomes: 0 };
    client.on('notification', (notification) => {
      seen.notifications.push(notification.payload.title as string);
      seen.byRoom.set(notification.room, [...(seen.byRoom.get(notification.room) ?? []), notification.payload.title as string]);
    });
    client.on('disconnect', (event) => seen.disconnects.push(event));
    client.on('recovery', (event) => seen.recoveries.push(event));
    client.on('welcome', () => (seen.welcomes += 1));
    return { client, seen };
  }

  const notify = (user: string, title: string) => publisher.publish({ users: [user], type: 'test', payload: { title } });

  it('reconnects after the server closes with 1012 and recovers what was published meanwhile', async () => {
    // A fixed random makes the drain delay a known 500 ms, so the publishes land inside it.
    const { client, seen } = open({
      getToken: () => signToken({ sub: 'carol', rooms: ['team:*'] }),
      rooms: ['public:news'],
      reconnect: { soonMaxDelayMs: 1_000 },
      random: () => 0.5,
    });
    await client.whenOpen();
    await publisher.publish({ rooms: ['public:news'], users: ['carol'], type: 'test', payload: { title: 'before' } });
    await eventually(() => expect(seen.notifications).toEqual(['before', 'before']));

    const reconnecting = new Promise<void>((resolve) => client.once('disconnect', () => resolve()));
    expect(closeEveryConnection(app)).toBe(1);
    await reconnecting;
    expect(client.state).toBe('reconnecting');
    await notify('carol', 'while away 1');
    await publisher.publish({ rooms: ['public:news'], users: ['carol'], type: 'test', payload: { title: 'while away 2' } });

    await eventually(() => expect(seen.welcomes).toBe(2));
    // In order within each room; the two rooms' recoveries may come in either order.
    await eventually(() => expect(seen.notifications).toHaveLength(5));
    expect(seen.notifications.slice(0, 2)).toEqual(['before', 'before']);
    expect(seen.byRoom.get('user:carol')).toEqual(['before', 'while away 1', 'while away 2']);
    expect(seen.byRoom.get('public:news')).toEqual(['before', 'while away 2']);
    expect(seen.disconnects.map(({ code, reconnectInMs }) => [code, reconnectInMs])).toEqual([[1012, 500]]);
    expect(seen.recoveries).toEqual(
      expect.arrayContaining([
        { room: 'user:carol', recovered: true, missed: 2 },
        { room: 'public:news', recovered: true, missed: 1 },
      ]),
    );
    expect(client.rooms.sort()).toEqual(['public:news', 'user:carol']);
  });

  it('rejects what still waits for its turn with closed on close(), not disconnected', async () => {
    const { client } = open({ getToken: () => signToken({ sub: 'quin', rooms: ['chat:*'] }) });
    await client.whenOpen();
    await client.join('chat:q');
    const sends = Array.from({ length: 60 }, (_, i) => client.send('chat:q', `m${i}`).then(() => 'ack', (error: { code: string }) => error.code));
    client.close();
    const outcomes = await Promise.all(sends);
    expect(new Set(outcomes)).toEqual(new Set(['closed']));
  });

  describe('waiting on a token\'s life or on a rate limit', () => {
    // Each case mostly waits (for a token to expire, or for its pace under a rate limit): they start
    // together, so those waits overlap instead of adding up, and each test checks its own case. The
    // one that closes every connection has a server of its own, and each closes its own client.
    const cases = startedTogether({
      manyRooms: async () => {
        // A server of its own: this case closes every connection of it.
        const own = await createTestApp();
        // 45 rooms and the personal one: more joins than the server's burst of 40 frames.
        const rooms = Array.from({ length: 45 }, (_, i) => `public:many-${i}`);
        // Paced at 15 a second, the last join settles about 3 s after the first; the request
        // timeout leaves room for a machine busy with other work (this checks pace, not speed).
        const { client, seen } = open({ getToken: () => signToken({ sub: 'gwen' }), rooms, reconnect: { soonMaxDelayMs: 1 }, requestTimeoutMs: 25_000 }, { server: own, ownClose: true });
        try {
          const errors: string[] = [];
          client.on('error', (error) => errors.push(error.code));
          await client.whenOpen();
          // join() of a room being joined settles on its reply: this waits for all 45.
          await Promise.all(rooms.map((room) => client.join(room)));
          expect(closeEveryConnection(own)).toBe(1);
          await eventually(() => expect(seen.welcomes).toBe(2));
          await Promise.all(rooms.map((room) => client.join(room)));
          expect(errors).toEqual([]);
          expect(client.rooms).toHaveLength(46);
          await new PublishClient({ baseUrl: own.url, token: publisherToken() }).publish({ rooms: [rooms[44]], type: 'test', payload: { title: 'to the last room' } });
          await eventually(() => expect(seen.notifications).toEqual(['to the last room']));
        } finally {
          client.close();
          await own.close();
        }
      },
      strictLimit: async () => {
        // RATE_LIMIT_PER_S=2: a burst of 4, and more than 4 drops without a one-second pause close.
        // The pacer learns that limit from rate_limited replies, each costing a pause: 12 joins
        // took 8.7 s alone and more than the default 10 s request timeout beside other work, so
        // join() rejected rate_limited though its room was still kept and joined later. What
        // this case checks is that every room is joined without a 4029, not how soon.
        const strict = await createTestApp({ RATE_LIMIT_PER_S: '2' });
        const client = connect(strict.wsUrl, {
          WebSocket,
          getToken: () => signToken({ sub: 'ruth' }),
          rooms: Array.from({ length: 12 }, (_, i) => `public:slow-${i}`),
          requestTimeoutMs: 25_000,
        });
        const closes: number[] = [];
        client.on('disconnect', (event) => closes.push(event.code));
        try {
          await client.whenOpen();
          const rooms = client.rooms.filter((room) => room.startsWith('public:'));
          // Each room's join settles on its reply: refused ones are retried until joined.
          await Promise.all(rooms.map((room) => client.join(room)));
          expect(closes).toEqual([]);
          const presence = await fetch(`${strict.url}/v1/rooms/public:slow-11/presence`, { headers: { authorization: `Bearer ${signToken({ sub: 'ops', scope: 'presence:read' })}` } });
          expect(await presence.json()).toMatchObject({ users: ['ruth'] });
        } finally {
          client.close();
          await strict.close();
        }
      },
      newTokenAfter4001: async () => {
        // getToken has nothing newer until the first token expired, so the in-band refresh
        // cannot happen and the server closes with 4001.
        const first = signToken({ sub: 'dave', ttlS: 1 });
        let expired = false;
        const getToken = jest.fn(() => (expired ? signToken({ sub: 'dave', ttlS: 3600 }) : first));
        const { client, seen } = open({ getToken }, { ownClose: true });
        try {
          // In order: on a busy machine the 1-second token may expire before its first admission,
          // which then closes with 4001 before any welcome; either way a welcome must follow the 4001.
          const events: string[] = [];
          client.on('disconnect', (event) => {
            expired = true;
            events.push(`disconnect ${event.code} ${event.reason}`);
          });
          client.on('welcome', () => events.push('welcome'));
          await client.whenOpen();
          await eventually(() => expect(seen.disconnects.map((event) => [event.code, event.reason])).toEqual([[4001, 'token_expired']]), 5_000);
          await eventually(() => expect(events.slice(events.indexOf('disconnect 4001 token_expired'))).toEqual(['disconnect 4001 token_expired', 'welcome']));
          expect(getToken.mock.results.at(-1)!.value).not.toBe(first);
          await notify('dave', 'after expiry');
          await eventually(() => expect(seen.notifications).toEqual(['after expiry']));
        } finally {
          client.close();
        }
      },
      refreshInBand: async () => {
        // `exp` counts whole seconds, so a token lives between ttlS - 1 and ttlS seconds, and the SDK
        // refreshes half way through one this short: 5 s leaves the refresh at least 2 s to be made
        // and applied on a loaded machine before the server's expiry sweep.
        const getToken = jest.fn(() => signToken({ sub: 'erin', ttlS: 5 }));
        const { client, seen } = open({ getToken }, { ownClose: true });
        try {
          await client.whenOpen();
          const firstExpiry = Date.parse(client.welcome!.expiresAt!);
          await eventually(() => expect(getToken.mock.calls.length).toBeGreaterThanOrEqual(2), 6_000);
          // Past the first token's expiry, still the first connection.
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstExpiry - Date.now()) + 300));
          expect(seen.disconnects).toEqual([]);
          expect(seen.welcomes).toBe(1);
          await notify('erin', 'still here');
          await eventually(() => expect(seen.notifications).toEqual(['still here']));
        } finally {
          client.close();
        }
      },
    });

    it("keeps every room past the server's rate-limit burst, joining and rejoining them at its pace", cases.manyRooms);
    it('learns a server rate limit below the default and joins every room without being closed 4029', cases.strictLimit, 30_000);
    it('asks for a new token after 4001 and carries on', cases.newTokenAfter4001);
    it('refreshes the token in band before it expires, without reconnecting', cases.refreshInBand);
  });

  it('gives up on 1008 when getToken keeps returning the refused token', async () => {
    const forged = signToken({ sub: 'mallory' }, 'not-the-server-secret-0123456789abcdef');
    const getToken = jest.fn(() => forged);
    const { client, seen } = open({ getToken });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.code));
    await expect(client.whenOpen()).rejects.toMatchObject({ code: 'closed' });
    expect(client.state).toBe('closed');
    expect(seen.disconnects.map((event) => [event.code, event.reason])).toEqual([[1008, 'unauthorized']]);
    expect(errors).toEqual(['unauthorized']);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(seen.welcomes).toBe(0);
  });

  it('stops on 1008 origin_not_allowed with an error of code origin_not_allowed, not unauthorized', async () => {
    const guarded = await createTestApp({ ALLOWED_ORIGINS: 'https://app.example.com' });
    try {
      // What a browser on a page of another origin sends.
      class FromOtherOrigin extends WebSocket {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols, { origin: 'https://elsewhere.example.com' });
        }
      }
      const getToken = jest.fn(() => signToken({ sub: 'frank' }));
      const client = connect(guarded.wsUrl, { WebSocket: FromOtherOrigin, getToken });
      clients.push(client);
      const disconnects: DisconnectEvent[] = [];
      const errors: string[] = [];
      client.on('disconnect', (event) => disconnects.push(event));
      client.on('error', (error) => errors.push(error.code));
      await expect(client.whenOpen()).rejects.toMatchObject({ code: 'closed' });
      expect(client.state).toBe('closed');
      expect(disconnects.map(({ code, reason, advice, reconnectInMs }) => [code, reason, advice, reconnectInMs])).toEqual([[1008, 'origin_not_allowed', 'stop', null]]);
      expect(errors).toEqual(['origin_not_allowed']);
      expect(getToken).toHaveBeenCalledTimes(1);
    } finally {
      await guarded.close();
    }
  });
});
