import { jest } from '@jest/globals';
import { HeraldClient, type ConnectionState, type HeraldClientOptions, type WebSocketLike } from './herald.client.ts';
import { PACER_LIMITED_PAUSE_MS, PACER_RATE_PER_S, PACER_SLOW_START } from './frame.pacer.ts';
import type { HeraldError } from './herald.errors.ts';
import { MIN_REFRESH_INTERVAL_MS } from './token.refresher.ts';
import type { Notification, Welcome } from './protocol.ts';

/** Stands in for the server end: records what the client sends, plays frames and closes. */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: Array<{ event: string; data?: any; id?: string }> = [];
  /** When each frame of `sent` was sent (fake time). */
  readonly sentAtMs: number[] = [];
  closedByClient: { code?: number; reason?: string } | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.all.push(this);
  }

  static get last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
    this.sentAtMs.push(Date.now());
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
  }

  receive(event: string, data?: unknown, id?: string): void {
    this.raw(JSON.stringify({ event, data, id }));
  }

  /** Plays a frame exactly as given, however malformed. */
  raw(text: string): void {
    this.onmessage?.({ data: text });
  }

  /** The join requests sent so far, as their data. */
  joins(): Array<{ room: string; since?: string }> {
    return this.sent.filter((sent) => sent.event === 'join').map((sent) => sent.data);
  }

  welcome(overrides: Partial<Welcome> = {}): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive('welcome', {
      connectionId: `c${FakeSocket.all.length}`,
      user: 'alice',
      heartbeatMs: 25_000,
      maxMessageBytes: 65_536,
      rooms: ['user:alice'],
      expiresAt: null,
      ...overrides,
    });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The last request of `event` the client sent. */
  request(event: string): { event: string; data?: any; id?: string } {
    const frame = [...this.sent].reverse().find((sent) => sent.event === event);
    if (!frame) throw new Error(`no ${event} sent; sent: ${JSON.stringify(this.sent)}`);
    return frame;
  }

  /** Answers every join request sent so far with `joined`. */
  answerJoins(reply: (room: string, since?: string) => object = (room) => ({ room, seq: null })): void {
    for (const frame of this.sent.filter((sent) => sent.event === 'join')) {
      this.receive('joined', reply(frame.data.room, frame.data.since), frame.id);
    }
  }
}

function notification(room: string, seq: string, overrides: Partial<Notification> = {}): Notification {
  return { id: `n-${seq}`, seq, room, type: 'test', payload: {}, timestamp: new Date().toISOString(), ...overrides };
}

/**
 * How many of the frames sent at `sentAtMs` the server's default rate limit (contract, section
 * 2: RATE_LIMIT_PER_S 20, a burst of 40) would have answered `rate_limited`.
 */
function framesOverTheRateLimit(sentAtMs: number[], ratePerS = 20): number {
  let tokens = 2 * ratePerS;
  let refilledAtMs = sentAtMs[0] ?? 0;
  let refused = 0;
  for (const atMs of sentAtMs) {
    tokens = Math.min(2 * ratePerS, tokens + ((atMs - refilledAtMs) * ratePerS) / 1000);
    refilledAtMs = atMs;
    if (tokens >= 1) tokens -= 1;
    else refused += 1;
  }
  return refused;
}

const roomsNamed = (count: number) => Array.from({ length: count }, (_, i) => `public:r${i}`);

/** Lets getToken()'s promise and what follows it run. */
const flush = () => jest.advanceTimersByTimeAsync(0);

describe('HeraldClient', () => {
  let client: HeraldClient;
  let tokens: string[];
  let states: ConnectionState[];
  let errors: HeraldError[];

  function start(options: Partial<HeraldClientOptions> = {}): HeraldClient {
    client = new HeraldClient('ws://herald.test/ws', {
      WebSocket: FakeSocket,
      getToken: async () => tokens.shift() ?? 'last-token',
      random: () => 0.5,
      reconnect: { initialDelayMs: 1_000, maxDelayMs: 8_000, soonMaxDelayMs: 2_000 },
      ...options,
    });
    client.on('state', ({ state }) => states.push(state));
    client.on('error', (error) => errors.push(error));
    return client;
  }

  /**
   * A client that joined its personal room at `firstSeq`, was dropped, and is welcomed again,
   * its rejoin not answered yet; what the app hears of notifications and recoveries, as `seq`
   * and `recovery <recovered> <missed>`.
   */
  async function rejoiningAfterADrop(firstSeq: string): Promise<string[]> {
    start();
    await flush();
    const events: string[] = [];
    client.on('notification', (n) => events.push(n.seq));
    client.on('recovery', (r) => events.push(`recovery ${r.recovered} ${r.missed}`));
    FakeSocket.last.welcome();
    FakeSocket.last.answerJoins((room) => ({ room, seq: firstSeq }));
    FakeSocket.last.serverClose(1012);
    await jest.advanceTimersByTimeAsync(1_000);
    FakeSocket.last.welcome();
    return events;
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    FakeSocket.all = [];
    tokens = ['t1', 't2', 't3', 't4'];
    states = [];
    errors = [];
  });

  afterEach(() => {
    client?.close();
    jest.useRealTimers();
  });

  describe('connecting', () => {
    it('offers the token as the bearer subprotocol and keeps it out of the URL', async () => {
      start();
      await flush();
      expect(FakeSocket.last.url).toBe('ws://herald.test/ws');
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.t1']);
    });

    it('puts the token in the query string only when asked to', async () => {
      start({ tokenInUrl: true });
      await flush();
      expect(FakeSocket.last.url).toBe('ws://herald.test/ws?token=t1');
      expect(FakeSocket.last.protocols).toEqual(['herald.v1']);
    });

    it('goes connecting -> open on welcome, and closed on close() without reconnecting', async () => {
      start();
      await flush();
      expect(client.state).toBe('connecting');
      FakeSocket.last.welcome();
      expect(client.state).toBe('open');
      client.close();
      expect(states).toEqual(['open', 'closed']);
      expect(FakeSocket.last.closedByClient).toEqual({ code: 1000, reason: 'normal' });
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(1);
    });

    it('gives up on a connection that never sends welcome and dials again', async () => {
      start({ connectTimeoutMs: 5_000 });
      await flush();
      await jest.advanceTimersByTimeAsync(5_000);
      expect(FakeSocket.all[0].closedByClient?.code).toBe(4000);
      expect(client.state).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(500); // backoff: 0.5 x 1000 ms
      expect(FakeSocket.all).toHaveLength(2);
    });

    it.each(['__proto__', 'valueOf', 'hasOwnProperty', 'constructor', 'toString'])('ignores a frame whose event is the Object.prototype name %s, as any unknown event, and goes on', async (event) => {
      start();
      await flush();
      FakeSocket.last.welcome();
      expect(() => FakeSocket.last.raw(JSON.stringify({ event, data: {} }))).not.toThrow();
      expect(errors).toEqual([]);
      FakeSocket.last.receive('ping');
      expect(FakeSocket.last.request('pong')).toEqual({ event: 'pong' });
    });

    it('keeps the default of a reconnect option given as undefined, and refuses one that is not a usable number, naming it', async () => {
      start({ reconnect: { maxDelayMs: undefined, soonMaxDelayMs: undefined, initialDelayMs: undefined } });
      await flush();
      const delays: Array<number | null> = [];
      client.on('disconnect', ({ reconnectInMs }) => delays.push(reconnectInMs));
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1012, 'service_restart');
      await jest.advanceTimersByTimeAsync(1000);
      FakeSocket.last.serverClose(1011, 'internal');
      // 0.5 x the default soonMaxDelayMs (2000), then the default backoff's: a number, never NaN (a timer of 1 ms, again and again).
      expect(delays[0]).toBe(1000);
      expect(delays[1]).toBeGreaterThanOrEqual(250);
      expect(delays[1]).toBeLessThanOrEqual(15_000);
      for (const reconnect of [{ maxDelayMs: Number.NaN }, { initialDelayMs: -1 }, { factor: 0.5 }, { soonMaxDelayMs: Infinity }, { stableAfterMs: '5000' as unknown as number }]) {
        expect(() => new HeraldClient('ws://herald.test/ws', { WebSocket: FakeSocket, getToken: () => 't', reconnect })).toThrow(new RegExp(`reconnect\\.${Object.keys(reconnect)[0]} must be`));
      }
      expect(() => new HeraldClient('ws://herald.test/ws', { WebSocket: FakeSocket, getToken: () => 't', reconnect: { maxAttempts: Infinity } }).close()).not.toThrow();
    });

    it('refuses timeouts and a dedupe window that are not finite numbers of at least their least, naming the option; takes undefined as the default', () => {
      const make = (options: Partial<HeraldClientOptions>) => () => new HeraldClient('ws://herald.test/ws', { WebSocket: FakeSocket, getToken: () => 't', ...options }).close();
      for (const options of [{ requestTimeoutMs: -1 }, { requestTimeoutMs: 0 }, { connectTimeoutMs: Number.NaN }, { refreshBeforeExpiryMs: -5 }, { requestTimeoutMs: Infinity }, { dedupeWindow: 0 }, { dedupeWindow: 2.5 }, { connectTimeoutMs: '100' as unknown as number }]) {
        expect(make(options)).toThrow(new RegExp(`^HeraldClient: ${Object.keys(options)[0]} must be a finite`));
      }
      expect(make({ requestTimeoutMs: 1, connectTimeoutMs: undefined, refreshBeforeExpiryMs: 0, dedupeWindow: 1 })).not.toThrow();
    });

    it('reports a second welcome on the same connection as bad_request and starts nothing over', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:1' }));
      FakeSocket.last.welcome({ connectionId: 'c-again' });
      expect(errors.map((error) => [error.code, error.message])).toEqual([['bad_request', 'a second welcome on the same connection']]);
      expect(client.welcome?.connectionId).toBe('c1');
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:alice' }, { room: 'public:news' }]);
      expect(states).toEqual(['open']);
    });

    it('answers the server ping with pong', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.receive('ping');
      expect(FakeSocket.last.request('pong')).toEqual({ event: 'pong' });
    });
  });

  describe('reconnecting', () => {
    it('reconnects after 1012 following a short random delay, with a fresh token', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1012, 'service_restart');
      expect(client.state).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(999); // 0.5 x soonMaxDelayMs = 1000 ms
      expect(FakeSocket.all).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeSocket.all).toHaveLength(2);
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.t2']);
      FakeSocket.last.welcome();
      expect(states).toEqual(['open', 'reconnecting', 'open']);
    });

    it('backs off exponentially while the server stays unreachable, and resets once it is back', async () => {
      start({ random: () => 0.999_999 });
      await flush();
      const delays: number[] = [];
      client.on('disconnect', ({ reconnectInMs }) => delays.push(reconnectInMs!));
      for (let i = 0; i < 5; i++) {
        FakeSocket.last.serverClose(1006);
        await jest.advanceTimersByTimeAsync(delays[delays.length - 1]);
      }
      expect(delays).toEqual([999, 1_999, 3_999, 7_999, 7_999]);
      FakeSocket.last.welcome();
      await jest.advanceTimersByTimeAsync(5_000); // reconnect.stableAfterMs
      FakeSocket.last.serverClose(1006);
      expect(delays[delays.length - 1]).toBe(999);
    });

    it.each([
      [4008, 'slow_consumer'],
      [1009, 'message_too_big'],
      [1011, 'internal'],
      [1013, 'try_again_later'],
      [4029, 'rate_limited'],
    ])('backs off when the server welcomes and then closes with %i at once, again and again', async (code, reason) => {
      start({ random: () => 0.999_999, reconnect: { initialDelayMs: 1_000, maxDelayMs: 8_000, stableAfterMs: 5_000 } });
      await flush();
      const delays: number[] = [];
      client.on('disconnect', ({ reconnectInMs }) => delays.push(reconnectInMs!));
      for (let i = 0; i < 6; i++) {
        FakeSocket.last.welcome();
        FakeSocket.last.serverClose(code, reason);
        await jest.advanceTimersByTimeAsync(delays[delays.length - 1]);
      }
      expect(FakeSocket.all).toHaveLength(7);
      // 1009 and 4008 reconnect at once the first time only.
      const first = code === 1009 || code === 4008 ? 0 : 999;
      expect(delays).toEqual([first, 1_999, 3_999, 7_999, 7_999, 7_999]);
    });

    it('reconnects at once after 4008 on a connection that lasted, however many short ones came before', async () => {
      start();
      await flush();
      const delays: number[] = [];
      client.on('disconnect', ({ reconnectInMs }) => delays.push(reconnectInMs!));
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(4008, 'slow_consumer');
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(4008, 'slow_consumer');
      await jest.advanceTimersByTimeAsync(delays[1]);
      FakeSocket.last.welcome();
      await jest.advanceTimersByTimeAsync(5_000);
      FakeSocket.last.serverClose(4008, 'slow_consumer');
      expect(delays).toEqual([0, 1_000, 0]);
    });

    it('does not reconnect after 1000, and closes', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1000, 'normal');
      expect(client.state).toBe('closed');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(1);
    });

    it('gives up on 1008 when getToken returns the refused token again', async () => {
      start({ getToken: () => 'bad-token' });
      await flush();
      FakeSocket.last.serverClose(1008, 'unauthorized');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(1);
      expect(client.state).toBe('closed');
      expect(errors.map((error) => error.code)).toEqual(['unauthorized']);
    });

    it('stops on 1008 origin_not_allowed with an error of its own code, not unauthorized, and asks for no token', async () => {
      const getToken = jest.fn(async () => tokens.shift()!);
      start({ getToken });
      const order: string[] = [];
      client.on('error', (error) => order.push(`error ${error.code}`));
      client.on('state', ({ state }) => order.push(`state ${state}`));
      await flush();
      FakeSocket.last.serverClose(1008, 'origin_not_allowed');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(1);
      expect(getToken).toHaveBeenCalledTimes(1);
      expect(order).toEqual(['error origin_not_allowed', 'state closed']);
      expect(errors[0].message).toMatch(/1008 origin_not_allowed.*ALLOWED_ORIGINS/);
    });

    it('stays closed when a disconnect listener closes it, and dials nothing more', async () => {
      start();
      await flush();
      client.on('disconnect', () => client.close());
      FakeSocket.last.welcome();
      expect(() => FakeSocket.last.serverClose(1011, 'internal')).not.toThrow();
      expect(states).toEqual(['open', 'closed']);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('stays closed when a disconnect listener closes it after getToken failed', async () => {
      start({ getToken: () => Promise.reject(new Error('offline')) });
      client.on('disconnect', () => client.close());
      // Before the fix the transition closed -> reconnecting threw inside #dial: an unhandled rejection.
      await flush();
      expect(states).toEqual(['closed']);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('sends nothing more on a connection a welcome listener closed', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      let queued: string | undefined;
      client.send('public:news', 'queued while connecting').catch((error: HeraldError) => (queued = error.code));
      client.on('welcome', () => client.close());
      FakeSocket.last.welcome();
      await flush();
      expect(FakeSocket.last.sent).toEqual([]);
      expect(queued).toBe('closed');
      expect(states).toEqual(['open', 'closed']);
      expect(errors).toEqual([]);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('says no welcome, and sends nothing, when a state listener closes it as it opens', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      const welcomed: unknown[] = [];
      client.on('welcome', (welcome) => welcomed.push(welcome));
      client.on('state', ({ state }) => state === 'open' && client.close());
      FakeSocket.last.welcome();
      await flush();
      expect(welcomed).toEqual([]);
      expect(FakeSocket.last.sent).toEqual([]);
      expect(states).toEqual(['open', 'closed']);
      expect(errors).toEqual([]);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('leaves no reconnect timer when a state listener closes it on reconnecting', async () => {
      start();
      await flush();
      client.on('state', ({ state }) => state === 'reconnecting' && client.close());
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1011, 'internal');
      expect(states).toEqual(['open', 'reconnecting', 'closed']);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('says why before it says closed when it gives up (docs/client.md: error, then closed)', async () => {
      start({ getToken: () => 'bad-token' });
      const order: string[] = [];
      client.on('error', (error) => order.push(`error ${error.code}`));
      client.on('state', ({ state }) => order.push(`state ${state}`));
      await flush();
      FakeSocket.last.serverClose(1008, 'unauthorized');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(order.slice(-2)).toEqual(['error unauthorized', 'state closed']);
    });

    it('retries after 1008 when getToken yields a different token', async () => {
      start();
      await flush();
      FakeSocket.last.serverClose(1008, 'unauthorized');
      await jest.advanceTimersByTimeAsync(500);
      expect(FakeSocket.all).toHaveLength(2);
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.t2']);
    });

    it('asks for a new token after 4001 and reconnects with it', async () => {
      const getToken = jest.fn(async () => tokens.shift()!);
      start({ getToken });
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(4001, 'token_expired');
      await jest.advanceTimersByTimeAsync(500);
      expect(getToken).toHaveBeenCalledTimes(2);
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.t2']);
      FakeSocket.last.welcome();
      expect(client.state).toBe('open');
    });

    it('forgets a refused token once a connection is welcomed: only the dials right after the refusal need another', async () => {
      tokens = ['t1', 't2', 't1'];
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(4001, 'token_expired');
      await jest.advanceTimersByTimeAsync(500);
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1012, 'service_restart');
      await jest.advanceTimersByTimeAsync(1_000);
      expect(FakeSocket.all.map((socket) => socket.protocols)).toEqual([
        ['herald.v1', 'bearer.t1'],
        ['herald.v1', 'bearer.t2'],
        ['herald.v1', 'bearer.t1'],
      ]);
      expect(client.state).toBe('reconnecting');
      expect(errors).toEqual([]);
    });

    it('stops rejoining the personal room of the user it was welcomed as before', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      FakeSocket.last.welcome({ user: 'alice', rooms: ['user:alice'] });
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:1' }));
      FakeSocket.last.serverClose(1012, 'service_restart');
      await jest.advanceTimersByTimeAsync(1_000);
      // getToken now signs in another user (the app switched accounts).
      FakeSocket.last.welcome({ user: 'bob', rooms: ['user:bob'] });
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:bob' }, { room: 'public:news', since: 'e1:1' }]);
      expect(client.rooms).toEqual(['public:news', 'user:bob']);
    });

    it('does not hold a new connection to the pause a rate_limited reply asked for on the old one', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins();
      FakeSocket.last.receive('error', { code: 'rate_limited', message: 'Too many frames', event: 'pong' });
      FakeSocket.last.serverClose(1012, 'service_restart');
      // Reconnected after 0.5 x soonMaxDelayMs, 1000 ms: within the old connection's PACER_LIMITED_PAUSE_MS.
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:alice' }]);
    });

    it('treats a connection silent for 2 x heartbeatMs as dead', async () => {
      start();
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 1_000 });
      await jest.advanceTimersByTimeAsync(1_500);
      FakeSocket.last.receive('ping'); // anything received counts as alive
      await jest.advanceTimersByTimeAsync(1_999);
      expect(client.state).toBe('open');
      await jest.advanceTimersByTimeAsync(1);
      expect(client.state).toBe('reconnecting');
      expect(FakeSocket.all[0].closedByClient?.code).toBe(4000);
      await jest.advanceTimersByTimeAsync(500);
      expect(FakeSocket.all).toHaveLength(2);
    });

    it('rejoins every room with since = the last seq seen, the personal room (which the server already sends to) first', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      const first = FakeSocket.last;
      first.welcome();
      expect(first.sent.filter((frame) => frame.event === 'join').map((frame) => frame.data)).toEqual([
        { room: 'user:alice' },
        { room: 'public:news' },
      ]);
      first.answerJoins((room) => ({ room, seq: room === 'public:news' ? 'e1:4' : null }));
      first.receive('notification', notification('user:alice', 'e1:7'));
      first.serverClose(1012, 'service_restart');
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'join').map((frame) => frame.data)).toEqual([
        { room: 'user:alice', since: 'e1:7' },
        { room: 'public:news', since: 'e1:4' },
      ]);
    });

    it('drops duplicates by seq and surfaces recovered: false', async () => {
      start();
      await flush();
      const received: string[] = [];
      const recoveries: unknown[] = [];
      client.on('notification', (n) => received.push(n.seq));
      client.on('recovery', (r) => recoveries.push(r));
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:1' }));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:2'));
      FakeSocket.last.serverClose(1012);
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:4', recovered: true, missed: 2 }));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:2')); // seen before the drop
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:3'));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:4'));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:4'));
      FakeSocket.last.serverClose(1012);
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e2:9', recovered: false }));
      await flush();
      expect(received).toEqual(['e1:2', 'e1:3', 'e1:4']);
      expect(recoveries).toEqual([
        { room: 'user:alice', recovered: true, missed: 2 },
        { room: 'user:alice', recovered: false, missed: 0 },
      ]);
      FakeSocket.last.serverClose(1012);
      // The third drain in a row of short connections: backoff ceiling 4000 ms, x 0.5.
      await jest.advanceTimersByTimeAsync(2_000);
      FakeSocket.last.welcome();
      expect(FakeSocket.last.request('join').data).toEqual({ room: 'user:alice', since: 'e2:9' });
    });

    it('emits recovery before the replayed frames it announces, in the order the socket read them', async () => {
      const events = await rejoiningAfterADrop('e1:1');
      // The reply and its replay in one read, as ws hands them over: no microtask in between.
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:3', recovered: true, missed: 2 }));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:2'));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:3'));
      await flush();
      expect(events).toEqual(['recovery true 2', 'e1:2', 'e1:3']);
    });

    describe('live frames of a room whose rejoin is not answered yet', () => {
      let received: string[];

      /** Drops the connection and waits for the next one to be welcomed. */
      async function dropAndReconnect(): Promise<FakeSocket> {
        const delay = new Promise<number>((resolve) => client.once('disconnect', ({ reconnectInMs }) => resolve(reconnectInMs!)));
        FakeSocket.last.serverClose(1006);
        await jest.advanceTimersByTimeAsync(await delay);
        FakeSocket.last.welcome();
        return FakeSocket.last;
      }

      /** Connected, the personal room joined at e1:05 and e1:06 received. */
      async function startAtSix(options: Partial<HeraldClientOptions> = {}): Promise<void> {
        start(options);
        received = [];
        client.on('notification', (n) => received.push(n.seq));
        await flush();
        FakeSocket.last.welcome();
        FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:05' }));
        FakeSocket.last.receive('notification', notification('user:alice', 'e1:06'));
      }

      const personal = (seq: string) => notification('user:alice', seq);

      it('do not move since, so a second drop before the reply loses nothing', async () => {
        await startAtSix();
        const second = await dropAndReconnect();
        expect(second.request('join').data).toEqual({ room: 'user:alice', since: 'e1:06' });
        // The server put the connection in its personal room at welcome: what is published
        // now comes live, before the reply and its replay of e1:07 and e1:08.
        second.receive('notification', personal('e1:09'));
        second.receive('notification', personal('e1:10'));
        const third = await dropAndReconnect();
        expect(third.request('join').data).toEqual({ room: 'user:alice', since: 'e1:06' });
      });

      it('wait for the replay, then come once each, in order', async () => {
        await startAtSix();
        const socket = await dropAndReconnect();
        socket.receive('notification', personal('e1:09'));
        socket.receive('notification', personal('e1:10'));
        // Published after the server read the history it replays: only the live frame has it.
        socket.receive('notification', personal('e1:11'));
        expect(received).toEqual(['e1:06']);
        socket.answerJoins((room) => ({ room, seq: 'e1:10', recovered: true, missed: 4 }));
        socket.receive('notification', personal('e1:07'));
        socket.receive('notification', personal('e1:08'));
        expect(received).toEqual(['e1:06', 'e1:07', 'e1:08']);
        socket.receive('notification', personal('e1:09'));
        socket.receive('notification', personal('e1:10'));
        socket.receive('notification', personal('e1:12'));
        expect(received).toEqual(['e1:06', 'e1:07', 'e1:08', 'e1:09', 'e1:10', 'e1:11', 'e1:12']);
        expect((await dropAndReconnect()).request('join').data).toEqual({ room: 'user:alice', since: 'e1:12' });
      });

      /** Refuses the rejoin on `socket` for now, and lets its retry (0.5 x initialDelayMs later) go out. */
      async function refuseTheRejoin(socket: FakeSocket): Promise<void> {
        socket.receive('error', { code: 'unavailable', message: 'broker down', event: 'join' }, socket.request('join').id);
        await flush();
      }

      it('come with the replay of the retry when the rejoin is refused for now', async () => {
        await startAtSix();
        const socket = await dropAndReconnect();
        socket.receive('notification', personal('e1:08'));
        await refuseTheRejoin(socket);
        socket.receive('notification', personal('e1:09'));
        await jest.advanceTimersByTimeAsync(500);
        expect(socket.request('join').data).toEqual({ room: 'user:alice', since: 'e1:06' });
        socket.receive('joined', { room: 'user:alice', seq: 'e1:09', recovered: true, missed: 3 }, socket.request('join').id);
        for (const seq of ['e1:07', 'e1:08', 'e1:09']) socket.receive('notification', personal(seq));
        expect(received).toEqual(['e1:06', 'e1:07', 'e1:08', 'e1:09']);
        expect(errors).toEqual([]);
      });

      it('are dropped when the rejoin is refused for now: a retry that cannot replay delivers only those held since', async () => {
        await startAtSix();
        const socket = await dropAndReconnect();
        socket.receive('notification', personal('e1:08'));
        await refuseTheRejoin(socket);
        socket.receive('notification', personal('e1:09'));
        await jest.advanceTimersByTimeAsync(500);
        // The history no longer reaches e1:06: no replay, and the app is told to reload.
        socket.receive('joined', { room: 'user:alice', seq: 'e1:09', recovered: false }, socket.request('join').id);
        expect(received).toEqual(['e1:06', 'e1:09']);
      });

      it('are held up to dedupeWindow frames; past that they are dropped, and the replay alone brings them', async () => {
        await startAtSix({ dedupeWindow: 3 });
        const late = (from: number, count: number) => Array.from({ length: count }, (_, i) => `e1:${String(from + i).padStart(2, '0')}`);
        // As many as the window: held, and delivered after a reply with nothing to replay.
        let socket = await dropAndReconnect();
        const fit = late(7, 3);
        for (const seq of fit) socket.receive('notification', personal(seq));
        expect(received).toEqual(['e1:06']);
        socket.answerJoins((room) => ({ room, seq: fit.at(-1), recovered: false }));
        expect(received).toEqual(['e1:06', ...fit]);
        // One more: none is kept, so a reply with nothing to replay delivers none of them...
        socket = await dropAndReconnect();
        const tooMany = late(10, 4);
        for (const seq of tooMany) socket.receive('notification', personal(seq));
        socket.answerJoins((room) => ({ room, seq: tooMany.at(-1), recovered: false }));
        expect(received).toEqual(['e1:06', ...fit]);
        // ...and a reply that recovers has them replayed, each once.
        socket = await dropAndReconnect();
        const replayed = late(14, 4);
        for (const seq of replayed) socket.receive('notification', personal(seq));
        socket.answerJoins((room) => ({ room, seq: replayed.at(-1), recovered: true, missed: 4 }));
        for (const seq of replayed) socket.receive('notification', personal(seq));
        expect(received).toEqual(['e1:06', ...fit, ...replayed]);
      });

      it('come after the reply on the first connection too, where there is nothing to replay', async () => {
        start();
        received = [];
        client.on('notification', (n) => received.push(n.seq));
        await flush();
        FakeSocket.last.welcome();
        FakeSocket.last.receive('notification', personal('e1:01'));
        FakeSocket.last.receive('notification', personal('e1:02'));
        expect(received).toEqual([]);
        FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:01' }));
        expect(received).toEqual(['e1:01', 'e1:02']);
        expect((await dropAndReconnect()).request('join').data).toEqual({ room: 'user:alice', since: 'e1:02' });
      });
    });

    it('surfaces an unprompted recovery frame and resumes from the seq it carries', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      const recoveries: unknown[] = [];
      client.on('recovery', (r) => recoveries.push(r));
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:3' }));
      FakeSocket.last.receive('recovery', { room: 'public:news', seq: 'e2:0', recovered: false });
      expect(recoveries).toEqual([{ room: 'public:news', recovered: false, missed: 0 }]);
      FakeSocket.last.serverClose(1012);
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'join').map((frame) => frame.data)).toContainEqual({ room: 'public:news', since: 'e2:0' });
    });
  });

  describe('an unprompted recovery while the room\'s rejoin is not answered yet', () => {
    /** rejoiningAfterADrop from e1:03, then told that the server cannot prove continuity (`recoverySeq`). */
    async function toldRecoveryWhileRejoining(recoverySeq: string): Promise<string[]> {
      const events = await rejoiningAfterADrop('e1:03');
      FakeSocket.last.receive('recovery', { room: 'user:alice', seq: recoverySeq, recovered: false });
      return events;
    }

    it('leaves the answer to the rejoin, which replays from where the app stands', async () => {
      // The pod lost its feed before the rejoin is answered: the rejoin from e1:03 still recovers.
      const events = await toldRecoveryWhileRejoining('e1:07');
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:05', recovered: true, missed: 2 }));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:04'));
      FakeSocket.last.receive('notification', notification('user:alice', 'e1:05'));
      await flush();
      expect(events).toEqual(['recovery true 2', 'e1:04', 'e1:05']);
    });

    it('still tells the app to reload when the rejoin then answers recovered: false', async () => {
      const events = await toldRecoveryWhileRejoining('e2:01');
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e2:01', recovered: false }));
      await flush();
      expect(events).toEqual(['recovery false 0']);
      FakeSocket.last.serverClose(1012);
      await jest.advanceTimersByTimeAsync(2_000);
      FakeSocket.last.welcome();
      expect(FakeSocket.last.request('join').data).toEqual({ room: 'user:alice', since: 'e2:01' });
    });
  });

  describe('revoked rooms', () => {
    it('forgets a room the server took it out of with an unprompted left, and does not rejoin it', async () => {
      start({ rooms: ['team:1', 'public:news'] });
      await flush();
      const revoked: unknown[] = [];
      client.on('revoked', (event) => revoked.push(event));
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:3' }));
      FakeSocket.last.receive('left', { room: 'team:1' });
      FakeSocket.last.receive('left', { room: 'never:joined' });
      expect(revoked).toEqual([{ room: 'team:1' }]);
      expect(client.rooms).not.toContain('team:1');
      FakeSocket.last.serverClose(1012);
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      const rejoined = FakeSocket.last.sent.filter((frame) => frame.event === 'join').map((frame) => (frame.data as { room: string }).room);
      expect(rejoined).toContain('public:news');
      expect(rejoined).not.toContain('team:1');
    });
    it('takes a late reply to a leave that timed out for no revocation, and keeps the room joined again since', async () => {
      start({ requestTimeoutMs: 1_000 });
      await flush();
      const revoked: unknown[] = [];
      client.on('revoked', (event) => revoked.push(event));
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000 });
      FakeSocket.last.answerJoins();
      const joined = client.join('team:1');
      await flush();
      FakeSocket.last.answerJoins();
      await joined;
      const leaving = client.leave('team:1').catch((error: HeraldError) => error.code);
      await flush();
      const leave = FakeSocket.last.request('leave');
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await leaving).toBe('timeout');
      const rejoined = client.join('team:1');
      await flush();
      FakeSocket.last.answerJoins();
      await rejoined;
      FakeSocket.last.receive('left', { room: 'team:1' }, leave.id);
      expect(revoked).toEqual([]);
      expect(client.rooms).toContain('team:1');
    });
  });

  describe('token refresh', () => {
    it('refreshes in band before expiresAt, then again before the new expiry', async () => {
      start({ refreshBeforeExpiryMs: 60_000 });
      await flush();
      // A heartbeat longer than the test, so that the watchdog stays out of it.
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(9 * 60_000 - 1);
      expect(FakeSocket.last.sent.some((frame) => frame.event === 'refresh')).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      const refresh = FakeSocket.last.request('refresh');
      expect(refresh.data).toEqual({ token: 't2' });
      FakeSocket.last.receive('refreshed', { expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() }, refresh.id);
      await jest.advanceTimersByTimeAsync(9 * 60_000);
      expect(FakeSocket.last.request('refresh').data).toEqual({ token: 't3' });
      expect(FakeSocket.all).toHaveLength(1);
    });

    it('refreshes half way through a token shorter than refreshBeforeExpiryMs', async () => {
      start({ refreshBeforeExpiryMs: 60_000 });
      await flush();
      FakeSocket.last.welcome({ expiresAt: new Date(Date.now() + 20_000).toISOString() });
      await jest.advanceTimersByTimeAsync(10_000);
      expect(FakeSocket.last.request('refresh').data).toEqual({ token: 't2' });
    });

    describe('with a client clock skewed against the server', () => {
      /** A JWT (unsigned: the fake server does not check) issued at `iatMs` on the server's clock for `lifeS`. */
      const jwt = (iatMs: number, lifeS: number) => {
        const claims = { sub: 'alice', iat: Math.floor(iatMs / 1000), exp: Math.floor(iatMs / 1000) + lifeS };
        return `eyJhbGciOiJIUzI1NiJ9.${btoa(JSON.stringify(claims)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}.c2ln`;
      };
      /** What the server says of a token from `jwt`: its exp. */
      const expiresAt = (token: string) => new Date(JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000).toISOString();

      async function openWithSkew(skewMs: number, lifeS: number): Promise<string[]> {
        const issued: string[] = [];
        start({
          refreshBeforeExpiryMs: 60_000,
          getToken: () => {
            issued.push(jwt(Date.now() - skewMs, lifeS));
            return issued[issued.length - 1];
          },
        });
        await flush();
        FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: expiresAt(issued[0]) });
        return issued;
      }

      it('ahead by more than the token lifetime: refreshes a minute before the real expiry, not in a loop', async () => {
        const issued = await openWithSkew(3_700_000, 3_600);
        await jest.advanceTimersByTimeAsync(3_540_000 - 1);
        expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh')).toEqual([]);
        await jest.advanceTimersByTimeAsync(1);
        const refresh = FakeSocket.last.request('refresh');
        expect(refresh.data).toEqual({ token: issued[1] });
        FakeSocket.last.receive('refreshed', { expiresAt: expiresAt(issued[1]) }, refresh.id);
        await jest.advanceTimersByTimeAsync(3_540_000 - 1);
        expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh')).toHaveLength(1);
        expect(issued).toHaveLength(2);
      });

      it('behind by more than refreshBeforeExpiryMs: refreshes half way through the real lifetime, before it ends', async () => {
        const issued = await openWithSkew(-15_000, 10);
        await jest.advanceTimersByTimeAsync(5_000);
        expect(FakeSocket.last.request('refresh').data).toEqual({ token: issued[1] });
      });

      it('with an opaque token that looks expired already: refreshes at most every MIN_REFRESH_INTERVAL_MS', async () => {
        let calls = 0;
        start({ refreshBeforeExpiryMs: 60_000, getToken: () => `opaque-${++calls}` });
        await flush();
        const past = new Date(Date.now() - 60_000).toISOString();
        FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: past });
        for (let second = 0; second < 30; second += 1) {
          await jest.advanceTimersByTimeAsync(1_000);
          const refresh = FakeSocket.last.sent.filter((frame) => frame.event === 'refresh').at(-1);
          if (refresh) FakeSocket.last.receive('refreshed', { expiresAt: past }, refresh.id);
        }
        expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh').length).toBeLessThanOrEqual(30_000 / MIN_REFRESH_INTERVAL_MS + 1);
      });
    });

    it('asks getToken again later when it returns the token the connection has, sending no refresh with it', async () => {
      tokens = ['t1', 't1', 't3'];
      start({ refreshBeforeExpiryMs: 60_000 });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(9 * 60_000);
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh')).toEqual([]);
      await jest.advanceTimersByTimeAsync(30_000); // half of the minute left
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh').map((frame) => frame.data)).toEqual([{ token: 't3' }]);
      expect(errors).toEqual([]);
    });

    it('asks getToken again at most 30 s after it failed a refresh, however long the token has left', async () => {
      const answers: Array<() => string> = [
        () => 't1',
        () => {
          throw new Error('vault sealed');
        },
        () => 't3',
      ];
      start({ refreshBeforeExpiryMs: 5 * 60_000, getToken: () => answers.shift()!() });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(5 * 60_000);
      expect(errors.map((error) => [error.code, error.event])).toEqual([['token', 'refresh']]);
      // Half of the 5 minutes left would be 2.5 minutes.
      await jest.advanceTimersByTimeAsync(30_000 - 1);
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh')).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeSocket.last.request('refresh').data).toEqual({ token: 't3' });
    });

    it('stops asking getToken again once the token has under 2 s left', async () => {
      let calls = 0;
      const getToken = jest.fn(() => {
        calls += 1;
        if (calls === 1) return 't1';
        if (calls <= 8) throw new Error('vault sealed');
        // Out of answers: a loop that went on would wait here instead of spinning.
        return new Promise<string>(() => undefined);
      });
      start({ refreshBeforeExpiryMs: 60_000, getToken });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 20_000).toISOString() });
      // Asked at 10 s, then half of what is left each time: 15 s, 17.5 s, 18.75 s (1.25 s left).
      await jest.advanceTimersByTimeAsync(20_000 - 1);
      expect(getToken).toHaveBeenCalledTimes(1 + 4);
      expect(errors).toHaveLength(4);
    });

    it('surfaces a refused refresh as an error and keeps the connection', async () => {
      start();
      await flush();
      FakeSocket.last.welcome({ expiresAt: new Date(Date.now() + 20_000).toISOString() });
      await jest.advanceTimersByTimeAsync(10_000);
      const refresh = FakeSocket.last.request('refresh');
      FakeSocket.last.receive('error', { code: 'unauthorized', message: 'sub differs', event: 'refresh' }, refresh.id);
      await flush();
      expect(errors.map((error) => error.code)).toEqual(['unauthorized']);
      expect(client.state).toBe('open');
    });
  });

  describe('requests', () => {
    it('settles join on the joined reply and send on the ack', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('chat:1');
      const join = FakeSocket.last.request('join');
      expect(join.data).toEqual({ room: 'chat:1' });
      FakeSocket.last.receive('joined', { room: 'chat:1', seq: null }, join.id);
      await expect(joined).resolves.toEqual({ room: 'chat:1', seq: null });
      const sent = client.send('chat:1', 'hello');
      const message = FakeSocket.last.request('message');
      expect(message.data).toEqual({ room: 'chat:1', text: 'hello' });
      FakeSocket.last.receive('ack', { seq: 'e1:1' }, message.id);
      await expect(sent).resolves.toEqual({ seq: 'e1:1' });
    });

    it('rejects with the error code of the reply and forgets a forbidden room', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('team:9');
      const join = FakeSocket.last.request('join');
      FakeSocket.last.receive('error', { code: 'forbidden', message: 'no', event: 'join' }, join.id);
      await expect(joined).rejects.toMatchObject({ code: 'forbidden', event: 'join' });
      expect(client.rooms).not.toContain('team:9');
    });

    it('reports no error after closed for a refusal that arrived as the app closed', async () => {
      start({ rooms: ['team:9'] });
      const events: string[] = [];
      client.on('error', (error) => events.push(`error ${error.code}`));
      client.on('state', ({ state }) => events.push(state));
      await flush();
      FakeSocket.last.welcome();
      const join = FakeSocket.last.request('join');
      FakeSocket.last.receive('error', { code: 'forbidden', message: 'no', event: 'join' }, join.id);
      // In the same turn as the reply (a listener of an earlier frame, say): the refusal is handled a microtask later.
      client.close();
      await flush();
      expect(events.at(-1)).toBe('closed');
      expect(events).not.toContain('error forbidden');
    });

    it('takes a notification that carries a pending request\'s id for a notification, not for the reply', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const notifications: Notification[] = [];
      client.on('notification', (delivered) => notifications.push(delivered));
      FakeSocket.last.answerJoins();
      const joining = client.join('public:odd');
      const join = FakeSocket.last.request('join');
      FakeSocket.last.receive('notification', notification('user:alice', '0000000001-0000000000000001'), join.id);
      expect(notifications.map((delivered) => delivered.seq)).toEqual(['0000000001-0000000000000001']);
      FakeSocket.last.receive('joined', { room: 'public:odd', seq: null }, join.id);
      await expect(joining).resolves.toMatchObject({ room: 'public:odd' });
    });

    it('times out a request without a reply', async () => {
      start({ requestTimeoutMs: 3_000 });
      await flush();
      FakeSocket.last.welcome();
      const sent = client.send('chat:1', 'hello');
      const settled = expect(sent).rejects.toMatchObject({ code: 'timeout', event: 'message' });
      await jest.advanceTimersByTimeAsync(3_000);
      await settled;
    });

    it('sends leave for a room whose join timed out: the server may have joined it and answered late', async () => {
      start({ requestTimeoutMs: 1_000 });
      await flush();
      FakeSocket.last.welcome();
      const joining = client.join('chat:slow');
      const settled = expect(joining).rejects.toMatchObject({ code: 'timeout' });
      await jest.advanceTimersByTimeAsync(1_000);
      await settled;
      const join = FakeSocket.last.request('join');
      FakeSocket.last.receive('joined', { room: 'chat:slow', seq: null }, join.id);
      const leaving = client.leave('chat:slow');
      const leave = FakeSocket.last.request('leave');
      expect(leave.data).toEqual({ room: 'chat:slow' });
      FakeSocket.last.receive('left', { room: 'chat:slow' }, leave.id);
      await expect(leaving).resolves.toEqual({ room: 'chat:slow' });
      expect(client.rooms).not.toContain('chat:slow');
    });

    it('sends no leave for a room whose join was refused for now (the server does not hold it)', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joining = client.join('chat:busy');
      const join = FakeSocket.last.request('join');
      FakeSocket.last.receive('error', { code: 'unavailable', message: 'try again later', event: 'join' }, join.id);
      await flush();
      const refused = expect(joining).rejects.toMatchObject({ code: 'closed' });
      await expect(client.leave('chat:busy')).resolves.toEqual({ room: 'chat:busy' });
      await refused;
      expect(FakeSocket.last.sent.filter((sent) => sent.event === 'leave')).toEqual([]);
    });

    it('joins a room requested while reconnecting once the connection is back', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.serverClose(1012);
      const joined = client.join('public:news');
      await jest.advanceTimersByTimeAsync(1_000);
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins();
      await expect(joined).resolves.toEqual({ room: 'public:news', seq: null });
    });

    it('rejects a join with timeout after requestTimeoutMs of outage, keeps the room and joins it once the connection is back', async () => {
      start({ requestTimeoutMs: 3_000 });
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins();
      FakeSocket.last.serverClose(1006);
      const joined = client.join('public:news');
      const settled = expect(joined).rejects.toMatchObject({ code: 'timeout', event: 'join' });
      await jest.advanceTimersByTimeAsync(3_000); // the next socket (dialed after 500 ms) is not welcomed yet
      await settled;
      expect(client.rooms).toContain('public:news');
      expect(errors).toEqual([]);
      const socket = FakeSocket.last;
      socket.welcome();
      expect(socket.joins()).toEqual([{ room: 'user:alice' }, { room: 'public:news' }]);
      // Asking again waits for the join under way, without a second frame.
      const again = client.join('public:news');
      socket.answerJoins((room) => ({ room, seq: 'e1:1' }));
      await expect(again).resolves.toEqual({ room: 'public:news', seq: 'e1:1' });
      await expect(client.join('public:news')).resolves.toEqual({ room: 'public:news', seq: 'e1:1' });
      expect(socket.joins()).toHaveLength(2);
    });

    it('rejects what is still pending as closed, not disconnected, when the app closes', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const sent = client.send('chat:1', 'hello').catch((error: HeraldError) => error);
      await flush();
      expect(FakeSocket.last.request('message').data).toEqual({ room: 'chat:1', text: 'hello' });
      client.close();
      expect(await sent).toMatchObject({ code: 'closed', event: 'message', message: 'the client was closed' });
    });

    it("names the request's event in a refusal that names none", async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const sent = client.send('user:bob', 'hello');
      FakeSocket.last.receive('error', { code: 'forbidden', message: 'no messages in user rooms' }, FakeSocket.last.request('message').id);
      await expect(sent).rejects.toMatchObject({ code: 'forbidden', event: 'message', message: 'no messages in user rooms' });
    });

    it('sends a token refresh ahead of the joins still waiting for their turn', async () => {
      start({ rooms: roomsNamed(20), refreshBeforeExpiryMs: 60_000 });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 400).toISOString() });
      expect(FakeSocket.last.joins()).toHaveLength(PACER_SLOW_START);
      // Refreshed half way through the 400 ms left, while most joins wait.
      await jest.advanceTimersByTimeAsync(2_000);
      const events = FakeSocket.last.sent.map((frame) => frame.event);
      expect(events.filter((event) => event === 'refresh')).toHaveLength(1);
      expect(events.filter((event) => event === 'join')).toHaveLength(21);
      const refreshAt = events.indexOf('refresh');
      // Due at 200 ms; sent with the next frame's budget, at most 1000 / PACER_RATE_PER_S ms later.
      expect(FakeSocket.last.sentAtMs[refreshAt] - FakeSocket.last.sentAtMs[0]).toBeLessThanOrEqual(200 + Math.ceil(1_000 / PACER_RATE_PER_S));
      expect(events.slice(refreshAt + 1).filter((event) => event === 'join').length).toBeGreaterThanOrEqual(10);
    });

    it('does not send a request that timed out while it waited for its turn', async () => {
      start({ requestTimeoutMs: 1_000 });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000 });
      const sends = Array.from({ length: 30 }, (_, i) => client.send('chat:1', `m${i}`).catch((error: HeraldError) => error.code));
      await jest.advanceTimersByTimeAsync(3_000);
      expect(await Promise.all(sends)).toEqual(Array(30).fill('timeout'));
      const messagesSentAtMs = FakeSocket.last.sent.flatMap((frame, i) => (frame.event === 'message' ? [FakeSocket.last.sentAtMs[i] - FakeSocket.last.sentAtMs[0]] : []));
      expect(messagesSentAtMs.length).toBeLessThan(30);
      expect(messagesSentAtMs.every((atMs) => atMs < 1_000)).toBe(true);
    });

    it('rejects a message whose connection drops before the ack', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const sent = client.send('chat:1', 'hello');
      FakeSocket.last.serverClose(1012);
      await expect(sent).rejects.toMatchObject({ code: 'disconnected' });
    });

    it('rejects a text over 4000 characters as the server counts them with bad_request, without sending it', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const tooLong = await client.send('public:news', 'x'.repeat(4_001)).catch((error: HeraldError) => error);
      expect(tooLong).toMatchObject({ code: 'bad_request', event: 'message' });
      // The server counts an astral character (two UTF-16 units) as one: 4000 emoji fit.
      const emoji = client.send('public:news', '😀'.repeat(4_000));
      await flush();
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'message').map((frame) => frame.data.text.length)).toEqual([8_000]);
      FakeSocket.last.receive('ack', { seq: 'e1:1' }, FakeSocket.last.request('message').id);
      await expect(emoji).resolves.toEqual({ seq: 'e1:1' });
    });

    it('rejects a request whose frame passes welcome.maxMessageBytes with bad_request, without sending it', async () => {
      start();
      await flush();
      FakeSocket.last.welcome({ maxMessageBytes: 1_000 });
      // 400 characters, 1200 bytes in UTF-8: under the text limit, over the frame limit.
      const tooBig = client.send('public:news', '€'.repeat(400)).catch((error: HeraldError) => error);
      await flush();
      expect(await tooBig).toMatchObject({ code: 'bad_request', event: 'message' });
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'message')).toEqual([]);
      const fits = client.send('public:news', '€'.repeat(300));
      await flush();
      FakeSocket.last.receive('ack', { seq: 'e1:1' }, FakeSocket.last.request('message').id);
      await expect(fits).resolves.toEqual({ seq: 'e1:1' });
      expect(client.state).toBe('open');
    });

    it('rejects an invalid room name without asking the server', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      await expect(client.join('no spaces')).rejects.toMatchObject({ code: 'invalid_room' });
      // Not a string at all (plain JavaScript): the pattern alone took undefined as "undefined".
      for (const room of [undefined, null, 123]) {
        await expect(client.join(room as unknown as string)).rejects.toMatchObject({ code: 'invalid_room', event: 'join' });
        await expect(client.leave(room as unknown as string)).rejects.toMatchObject({ code: 'invalid_room', event: 'leave' });
      }
      expect(() => new HeraldClient('ws://herald.test/ws', { WebSocket: FakeSocket, getToken: () => 't', rooms: [undefined as unknown as string] })).toThrow(/invalid room name/);
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'join')).toHaveLength(1); // the personal room
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'leave')).toHaveLength(0);
    });
  });

  describe('rooms', () => {
    it('rejoins 99 rooms and the personal one at a pace the default rate limit allows, and keeps every one', async () => {
      start({ rooms: roomsNamed(99) });
      await flush();
      FakeSocket.last.welcome();
      // A few at once (the server's limit is unknown yet), then the rest at a steady pace.
      expect(FakeSocket.last.joins()).toHaveLength(PACER_SLOW_START);
      // The personal room first: the server sends to it from the welcome, and what it sends waits for this reply.
      expect(FakeSocket.last.joins()[0]).toEqual({ room: 'user:alice' });
      await jest.advanceTimersByTimeAsync(7_000);
      expect(FakeSocket.last.joins()).toHaveLength(100);
      expect(framesOverTheRateLimit(FakeSocket.last.sentAtMs)).toBe(0);
      FakeSocket.last.answerJoins();
      await flush();
      expect(client.rooms).toHaveLength(100);
      expect(errors).toEqual([]);
    });

    it('keeps a rate_limited answer to its own pong from the app, slowing down all the same', async () => {
      start();
      await flush();
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      FakeSocket.last.welcome();
      FakeSocket.last.receive('error', { code: 'rate_limited', message: 'Too many frames', event: 'pong' });
      // The connection's first budget has room for it, but the server asked for a pause.
      const joined = client.join('public:news');
      await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS - 1);
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:alice' }]);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:alice' }, { room: 'public:news' }]);
      FakeSocket.last.receive('joined', { room: 'public:news', seq: null }, FakeSocket.last.request('join').id);
      await expect(joined).resolves.toEqual({ room: 'public:news', seq: null });
      FakeSocket.last.receive('error', { code: 'rate_limited', message: 'Too many frames', event: 'dance' });
      await flush();
      expect(errors).toEqual([expect.objectContaining({ code: 'rate_limited', event: 'dance' })]);
    });

    it("paces the app's own joins past the burst instead of losing them to rate_limited", async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joined = Promise.all(roomsNamed(60).map((room) => client.join(room)));
      await jest.advanceTimersByTimeAsync(4_500);
      expect(FakeSocket.last.joins()).toHaveLength(61);
      expect(framesOverTheRateLimit(FakeSocket.last.sentAtMs)).toBe(0);
      FakeSocket.last.answerJoins();
      await expect(joined).resolves.toHaveLength(60);
    });

    it.each(['rate_limited', 'unavailable', 'internal'])('keeps a room whose join is answered %s and joins it again after a backoff, or after rate_limited the pacer\'s pause', async (code) => {
      start({ rooms: ['public:news'] });
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('public:news');
      const first = FakeSocket.last.sent.find((frame) => frame.event === 'join' && frame.data.room === 'public:news')!;
      FakeSocket.last.receive('error', { code, message: 'not now', event: 'join' }, first.id);
      await flush();
      expect(client.rooms).toContain('public:news');
      // The backoff (0.5 x initialDelayMs 1000), or after rate_limited the pacer's pause
      // (PACER_LIMITED_PAUSE_MS) and no backoff.
      const retryAtMs = code === 'rate_limited' ? PACER_LIMITED_PAUSE_MS : 500;
      await jest.advanceTimersByTimeAsync(retryAtMs - 1);
      expect(FakeSocket.last.joins().filter((join) => join.room === 'public:news')).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeSocket.last.joins().filter((join) => join.room === 'public:news')).toHaveLength(2);
      FakeSocket.last.receive('joined', { room: 'public:news', seq: 'e1:1' }, FakeSocket.last.request('join').id);
      await expect(joined).resolves.toEqual({ room: 'public:news', seq: 'e1:1' });
      expect(errors).toEqual([]);
    });

    it('joins a room refused rate_limited again as soon as the pacer\'s pause ends, each time, with no backoff growing on top', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('public:news');
      joined.catch(() => undefined); // a failed expectation below closes the client: no unhandled rejection
      const joinsOfNews = () => FakeSocket.last.sent.filter((frame) => frame.event === 'join' && frame.data.room === 'public:news');
      // Three refusals: a backoff would have held the third retry 2 s (0.5 x 1000 x 2^2).
      for (let refusal = 1; refusal <= 3; refusal += 1) {
        FakeSocket.last.receive('error', { code: 'rate_limited', message: 'Too many frames', event: 'join' }, joinsOfNews().at(-1)!.id);
        await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS - 1);
        expect(joinsOfNews()).toHaveLength(refusal);
        await jest.advanceTimersByTimeAsync(1);
        expect(joinsOfNews()).toHaveLength(refusal + 1);
      }
      // Nor did they grow the backoff: an `unavailable` now waits the first one (0.5 x 1000, then
      // the slowed pace's next frame), not the fourth (0.5 x 8000).
      FakeSocket.last.receive('error', { code: 'unavailable', message: 'broker down', event: 'join' }, joinsOfNews().at(-1)!.id);
      await jest.advanceTimersByTimeAsync(499);
      expect(joinsOfNews()).toHaveLength(4);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(joinsOfNews()).toHaveLength(5);
      FakeSocket.last.receive('joined', { room: 'public:news', seq: 'e1:1' }, joinsOfNews().at(-1)!.id);
      await expect(joined).resolves.toEqual({ room: 'public:news', seq: 'e1:1' });
      expect(errors).toEqual([]);
    });

    it('refuses to leave its personal room, as the server does, and keeps rejoining it', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      await expect(client.leave('user:alice')).rejects.toMatchObject({ code: 'forbidden', event: 'leave' });
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'leave')).toEqual([]);
      expect(client.rooms).toContain('user:alice');
    });

    it('leaves a room whose join waits for its retry without asking the server, which does not hold it', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('public:busy');
      const settled = expect(joined).rejects.toMatchObject({ code: 'closed' });
      await flush();
      const first = FakeSocket.last.sent.find((frame) => frame.event === 'join' && frame.data.room === 'public:busy')!;
      FakeSocket.last.receive('error', { code: 'unavailable', message: 'broker down', event: 'join' }, first.id);
      await flush();
      await expect(client.leave('public:busy')).resolves.toEqual({ room: 'public:busy' });
      await settled;
      const socket = FakeSocket.last;
      expect(socket.sent.filter((frame) => frame.event === 'leave')).toEqual([]);
      // Nor is it joined again when its retry would have come.
      await jest.advanceTimersByTimeAsync(5_000);
      expect(socket.joins().filter((join) => join.room === 'public:busy')).toHaveLength(1);
      expect(client.rooms).not.toContain('public:busy');
    });

    it('rejects a join still refused when requestTimeoutMs is up with the last refusal, and keeps the room', async () => {
      start({ requestTimeoutMs: 2_000 });
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('public:news');
      const settled = expect(joined).rejects.toMatchObject({ code: 'unavailable', event: 'join' });
      FakeSocket.last.receive('error', { code: 'unavailable', message: 'broker down', event: 'join' }, FakeSocket.last.request('join').id);
      await jest.advanceTimersByTimeAsync(2_000);
      await settled;
      expect(client.rooms).toContain('public:news');
    });

    it('answers a join of a room already joined from what it knows, without a frame or a recovery', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const recoveries: unknown[] = [];
      client.on('recovery', (recovery) => recoveries.push(recovery));
      const twice = [client.join('chat:1'), client.join('chat:1')];
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:3' }));
      await expect(Promise.all(twice)).resolves.toEqual([
        { room: 'chat:1', seq: 'e1:3' },
        { room: 'chat:1', seq: 'e1:3' },
      ]);
      FakeSocket.last.receive('message', { seq: 'e1:4', room: 'chat:1', user: 'bob', text: 'hi', timestamp: new Date().toISOString() });
      await expect(client.join('chat:1')).resolves.toEqual({ room: 'chat:1', seq: 'e1:4' });
      expect(FakeSocket.last.joins()).toEqual([{ room: 'user:alice' }, { room: 'chat:1' }]);
      expect(recoveries).toEqual([]);
    });

    it('ignores a recovery frame about a room it is not in', async () => {
      start({ rooms: ['public:news'] });
      await flush();
      FakeSocket.last.welcome();
      FakeSocket.last.answerJoins((room) => ({ room, seq: 'e1:1' }));
      const recoveries: unknown[] = [];
      client.on('recovery', (recovery) => recoveries.push(recovery));
      FakeSocket.last.receive('recovery', { room: 'public:elsewhere', seq: 'e2:0', recovered: false });
      expect(recoveries).toEqual([]);
      expect(client.rooms).not.toContain('public:elsewhere');
    });
  });

  describe('frames that do not fit the contract', () => {
    it.each([
      ['an error without data', '{"event":"error"}'],
      ['a welcome without data', '{"event":"welcome"}'],
      ['a notification without its room', JSON.stringify({ event: 'notification', data: { id: 'n', seq: 'e1:9', type: 't', payload: {}, timestamp: 't' } })],
      ['an inbox event without read', '{"event":"inbox","data":{"unread":1}}'],
      ['a presence event whose data is a list', '{"event":"presence","data":[1]}'],
      ['a recovery without its room', '{"event":"recovery","data":{"seq":null}}'],
      ['text that is not JSON', '{"event":'],
    ])('turns %s into an error event with code bad_request, and stays open', async (_, frame) => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const heard: string[] = [];
      for (const event of ['notification', 'inbox', 'presence', 'recovery', 'welcome'] as const) client.on(event, () => heard.push(event));
      expect(() => FakeSocket.last.raw(frame)).not.toThrow();
      expect(errors.map((error) => [error.name, error.code])).toEqual([['HeraldError', 'bad_request']]);
      expect(heard).toEqual([]);
      expect(client.state).toBe('open');
    });

    it.each([
      ['joined without data', (id: string) => ({ event: 'joined', id })],
      ['an error without data', (id: string) => ({ event: 'error', id })],
      ['an ack', (id: string) => ({ event: 'ack', id, data: { seq: 'e1:1' } })],
    ])('rejects a join answered by %s with a HeraldError bad_request, once', async (_, reply) => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('chat:1');
      FakeSocket.last.raw(JSON.stringify(reply(FakeSocket.last.request('join').id!)));
      await expect(joined).rejects.toMatchObject({ name: 'HeraldError', code: 'bad_request', event: 'join' });
      expect(errors.map((error) => error.code)).toEqual(['bad_request']);
    });

    it('rejects a send answered by an ack without its seq', async () => {
      start();
      await flush();
      FakeSocket.last.welcome();
      const sent = client.send('chat:1', 'hello');
      FakeSocket.last.raw(JSON.stringify({ event: 'ack', id: FakeSocket.last.request('message').id, data: {} }));
      await expect(sent).rejects.toMatchObject({ name: 'HeraldError', code: 'bad_request', event: 'message' });
    });

    it('stays connecting after a welcome without data, and dials again after connectTimeoutMs', async () => {
      start({ connectTimeoutMs: 3_000 });
      await flush();
      FakeSocket.last.raw('{"event":"welcome"}');
      expect(client.state).toBe('connecting');
      expect(errors.map((error) => error.code)).toEqual(['bad_request']);
      await jest.advanceTimersByTimeAsync(3_000 + 500);
      expect(FakeSocket.all).toHaveLength(2);
    });

    it('takes a heartbeat under one second as one second', async () => {
      start();
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 1 });
      await jest.advanceTimersByTimeAsync(1_999);
      expect(client.state).toBe('open');
      await jest.advanceTimersByTimeAsync(1);
      expect(client.state).toBe('reconnecting');
    });

    it.each(['1e400', '-5', '0'])('keeps no watchdog for a heartbeatMs of %s, which is no duration', async (heartbeatMs) => {
      start();
      await flush();
      FakeSocket.last.raw(`{"event":"welcome","data":{"connectionId":"c1","user":"alice","heartbeatMs":${heartbeatMs},"maxMessageBytes":65536,"rooms":[],"expiresAt":null}}`);
      expect(client.state).toBe('open');
      await jest.advanceTimersByTimeAsync(600_000);
      expect(client.state).toBe('open');
      expect(FakeSocket.all).toHaveLength(1);
    });
  });

  describe('getToken', () => {
    it('has connectTimeoutMs to answer; a getToken that hangs is a token error, retried with backoff', async () => {
      const answers: Array<string | Promise<string>> = [new Promise(() => undefined), 't2'];
      start({ connectTimeoutMs: 3_000, getToken: () => answers.shift()! });
      await jest.advanceTimersByTimeAsync(2_999);
      expect(errors).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(errors.map((error) => [error.code, error.message])).toEqual([['token', 'getToken did not answer within 3000 ms']]);
      expect(states).toEqual(['reconnecting']);
      await jest.advanceTimersByTimeAsync(500);
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.t2']);
    });

    it('counts the time getToken took against connectTimeoutMs', async () => {
      start({ connectTimeoutMs: 3_000, getToken: () => new Promise((resolve) => setTimeout(() => resolve('slow'), 2_000)) });
      await jest.advanceTimersByTimeAsync(2_000);
      expect(FakeSocket.all).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(FakeSocket.all[0].closedByClient?.code).toBe(4000);
    });

    it('trims white space around the token, like the newline ending a text response', async () => {
      start({ getToken: async () => 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n' });
      await flush();
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln']);
    });

    it.each([['not a jwt'], [42], [''], [{ token: 't' }], [null]])('refuses %p as a token error naming getToken, and tries again with backoff', async (answer) => {
      const answers: unknown[] = [answer, 'good'];
      start({ getToken: () => answers.shift() as string });
      await flush();
      expect(FakeSocket.all).toHaveLength(0);
      expect(errors).toEqual([expect.objectContaining({ code: 'token', message: expect.stringContaining('getToken') })]);
      expect(client.state).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(500);
      expect(FakeSocket.last.protocols).toEqual(['herald.v1', 'bearer.good']);
    });

    it('lets listeners attached right after connect() hear a getToken that throws at once', async () => {
      let calls = 0;
      client = new HeraldClient('ws://herald.test/ws', {
        WebSocket: FakeSocket,
        random: () => 0.5,
        getToken: () => {
          calls += 1;
          if (calls === 1) throw new Error('no session yet');
          return 't';
        },
      });
      const seen: string[] = [];
      client.on('error', (error) => seen.push(`error ${error.code}`));
      client.on('disconnect', ({ code }) => seen.push(`disconnect ${code}`));
      client.on('state', ({ state }) => seen.push(`state ${state}`));
      await jest.advanceTimersByTimeAsync(250);
      FakeSocket.last.welcome();
      expect(seen).toEqual(['error token', 'disconnect 1011', 'state reconnecting', 'state open']);
    });

    it.each([[42], [''], [{ token: 't9' }], ['has space']])('sends no refresh when getToken returns %p, and asks again later', async (answer) => {
      const answers: unknown[] = ['t1', answer, 't3'];
      start({ getToken: () => answers.shift() as string });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(9 * 60_000);
      expect(FakeSocket.last.sent.filter((frame) => frame.event === 'refresh')).toEqual([]);
      expect(errors.map((error) => [error.code, error.event])).toEqual([['token', 'refresh']]);
      await jest.advanceTimersByTimeAsync(30_000); // half of the minute left
      expect(FakeSocket.last.request('refresh').data).toEqual({ token: 't3' });
    });

    it('leaves no timer behind when closed while getToken has not answered a connect', async () => {
      start({ getToken: () => new Promise(() => undefined) });
      await flush();
      client.close();
      await flush();
      expect(jest.getTimerCount()).toBe(0);
      expect(errors).toEqual([]);
    });

    it('leaves no timer behind when closed while getToken has not answered a refresh', async () => {
      const answers: Array<string | Promise<string>> = ['t1', new Promise(() => undefined)];
      start({ getToken: () => answers.shift()! });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(9 * 60_000);
      client.close();
      await flush();
      expect(jest.getTimerCount()).toBe(0);
      expect(errors).toEqual([]);
    });

    it('gives getToken connectTimeoutMs to answer a refresh too, then asks again', async () => {
      const answers: Array<string | Promise<string>> = ['t1', new Promise(() => undefined), 't3'];
      start({ connectTimeoutMs: 5_000, getToken: () => answers.shift()! });
      await flush();
      FakeSocket.last.welcome({ heartbeatMs: 3_600_000, expiresAt: new Date(Date.now() + 10 * 60_000).toISOString() });
      await jest.advanceTimersByTimeAsync(9 * 60_000 + 5_000);
      expect(errors.map((error) => [error.code, error.event, error.message])).toEqual([['token', 'refresh', 'getToken did not answer within 5000 ms']]);
      await jest.advanceTimersByTimeAsync(27_500); // half of the 55 s left
      expect(FakeSocket.last.request('refresh').data).toEqual({ token: 't3' });
    });
  });
});
