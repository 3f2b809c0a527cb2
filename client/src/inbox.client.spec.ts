import { jest } from '@jest/globals';
import { HeraldClient, type HeraldClientOptions, type UnreadChange, type WebSocketLike } from './herald.client.ts';
import { HeraldAuthError, HeraldError, HeraldHttpError, HeraldNetworkError, HeraldValidationError } from './herald.errors.ts';
import type { ConnectionState } from './connection.state.ts';
import { InboxClient, httpUrlOf, type InboxFeedEvents } from './inbox.client.ts';
import type { InboxItem, InboxPage, Notification, Welcome } from './protocol.ts';
import { TypedEmitter } from './typed.emitter.ts';

/** The server end of the connection: enough to greet, push events and close. */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** The joins the client sent; the rest of what it sends (pongs) does not matter to the inbox. */
  readonly joins: Array<{ id: string; room: string; since?: string }> = [];

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static get last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { event: string; id: string; data: { room: string; since?: string } };
    if (frame.event === 'join') this.joins.push({ id: frame.id, ...frame.data });
  }

  close(): void {
    this.readyState = 3;
  }

  receive(event: string, data?: unknown, id?: string): void {
    this.onmessage?.({ data: JSON.stringify({ event, data, id }) });
  }

  /**
   * Greets as `user`, and by default answers its joins as a server with nothing to replay: the
   * client holds the personal room's notifications until that answer.
   */
  welcome(user = 'alice', { answerJoins = true } = {}): void {
    this.readyState = 1;
    this.receive('welcome', { connectionId: 'c1', user, heartbeatMs: 25_000, maxMessageBytes: 65_536, rooms: [`user:${user}`], expiresAt: null });
    if (answerJoins) this.answerJoins((join) => (join.since === undefined ? { room: join.room, seq: null } : { room: join.room, seq: join.since, recovered: true, missed: 0 }));
  }

  answerJoins(reply: (join: { room: string; since?: string }) => object): void {
    for (const join of this.joins.splice(0)) this.receive('joined', reply(join), join.id);
  }
}

type Answer = { status: number; body?: unknown; raw?: string; headers?: Record<string, string> } | Error;
interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that plays the given answers in order and records every request. */
function fakeFetch(answers: Answer[]) {
  const requests: SeenRequest[] = [];
  const fetch = jest.fn(async (url: string | URL | Request, init?: RequestInit) => {
    requests.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: init?.headers as Record<string, string>,
      body: init?.body === undefined ? undefined : JSON.parse(init.body as string),
    });
    const answer = answers.shift();
    if (!answer) throw new Error('unexpected request');
    if (answer instanceof Error) throw answer;
    return new Response(answer.raw ?? (answer.body === undefined ? null : JSON.stringify(answer.body)), { status: answer.status, headers: answer.headers });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests, answers };
}

/**
 * The seq of notification `id` in the personal room (and so of its inbox item). The ids of these
 * tests sort in the order they are published, as seqs do.
 */
const seqOf = (id: string) => `e1-${id}`;

function item(id: string, read = false): InboxItem {
  return { id, seq: seqOf(id), type: 'test', payload: { title: id }, timestamp: '2026-01-01T00:00:00.000Z', read };
}

function page(ids: string[], unread: number, next: string | null = null): InboxPage {
  return { items: ids.map((id) => item(id)), unread, next };
}

function notification(room: string, id: string, seq = seqOf(id)): Notification {
  return { id, seq, room, type: 'test', payload: {}, timestamp: '2026-01-01T00:00:01.000Z' };
}

const flush = () => jest.advanceTimersByTimeAsync(0);

/** The server closes the connection as a draining pod does (1012), and the client dials again: not welcomed yet. */
async function dropForDrain(): Promise<void> {
  FakeSocket.last.onclose?.({ code: 1012, reason: 'service_restart' });
  await jest.advanceTimersByTimeAsync(10);
}

/** Runs fake time along until `promise` settles (a Response body is read over a few turns). */
async function settle<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let turn = 0; turn < 100 && !settled; turn += 1) await jest.advanceTimersByTimeAsync(1);
  return promise;
}

type Outcome<T> = { status: 'pending' } | { status: 'resolved'; value: T } | { status: 'rejected'; reason: unknown };

/**
 * Where `promise` stands, read at any time: a test checks it after moving fake time along, so
 * a promise that never settles fails the expectation at once instead of jest's timeout.
 */
function outcomeOf<T>(promise: Promise<T>): () => Outcome<T> {
  let outcome: Outcome<T> = { status: 'pending' };
  promise.then(
    (value) => (outcome = { status: 'resolved', value }),
    (reason: unknown) => (outcome = { status: 'rejected', reason }),
  );
  return () => outcome;
}

describe('client.inbox', () => {
  let client: HeraldClient;
  let unreadChanges: UnreadChange[];

  function start(answers: Answer[], options: Partial<HeraldClientOptions> = {}) {
    const fake = fakeFetch(answers);
    client = new HeraldClient('ws://herald.test:3000/ws', {
      WebSocket: FakeSocket,
      getToken: () => 'user-token',
      fetch: fake.fetch,
      random: () => 0,
      ...options,
    });
    client.on('unread', (change) => unreadChanges.push(change));
    return fake;
  }

  /**
   * A client welcomed as alice whose fetch holds every request until the test answers it:
   * `answer` settles the oldest request still waiting, with `body` as a 200.
   */
  async function startWelcomedWithHeldAnswers() {
    const waiting: Array<(response: Response) => void> = [];
    const fetch = jest.fn(() => new Promise<Response>((resolve) => waiting.push(resolve)));
    start([], { fetch: fetch as unknown as typeof globalThis.fetch });
    await flush();
    FakeSocket.last.welcome();
    const answer = (body: unknown) => waiting.shift()!(new Response(JSON.stringify(body), { status: 200 }));
    return { fetch, answer };
  }

  /**
   * A client welcomed as alice that listed its inbox (the first answer), lost its connection to a
   * drain and was welcomed again, so it resyncs with the answers after it; `errors` are the
   * client's error events.
   */
  async function listedThenReconnected(answers: Answer[]) {
    const fake = start(answers);
    const errors: HeraldError[] = [];
    client.on('error', (error) => errors.push(error));
    await flush();
    FakeSocket.last.welcome();
    await client.inbox.list();
    await dropForDrain();
    FakeSocket.last.welcome();
    return { ...fake, errors };
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    FakeSocket.all = [];
    unreadChanges = [];
  });

  afterEach(() => {
    client?.close();
    jest.useRealTimers();
  });

  describe('list', () => {
    it('gets the newest page with the bearer token and takes unread from it', async () => {
      const { requests } = start([{ status: 200, body: page(['n2', 'n1'], 2, seqOf('n1')) }]);
      expect(client.inbox.unread).toBeNull();
      await expect(client.inbox.list()).resolves.toEqual(page(['n2', 'n1'], 2, seqOf('n1')));
      expect(requests).toEqual([
        { url: 'http://herald.test:3000/v1/inbox', method: 'GET', headers: { accept: 'application/json', authorization: 'Bearer user-token' }, body: undefined },
      ]);
      expect(client.inbox.unread).toBe(2);
      expect(unreadChanges).toEqual([{ unread: 2, previous: null }]);
    });

    it('pages with limit and before until next is null', async () => {
      const { requests } = start([
        { status: 200, body: page(['n5', 'n4'], 5, seqOf('n4')) },
        { status: 200, body: page(['n3', 'n2'], 5, seqOf('n2')) },
        { status: 200, body: page(['n1'], 5, null) },
      ]);
      const ids: string[] = [];
      let before: string | null = null;
      do {
        const current: InboxPage = await client.inbox.list({ limit: 2, before });
        ids.push(...current.items.map((listed) => listed.id));
        before = current.next;
      } while (before !== null);
      expect(ids).toEqual(['n5', 'n4', 'n3', 'n2', 'n1']);
      expect(requests.map((request) => request.url)).toEqual([
        'http://herald.test:3000/v1/inbox?limit=2',
        'http://herald.test:3000/v1/inbox?limit=2&before=e1-n4',
        'http://herald.test:3000/v1/inbox?limit=2&before=e1-n2',
      ]);
      expect(unreadChanges).toEqual([{ unread: 5, previous: null }]);
    });

    it.each([0, 101, 2.5, Number.NaN])('refuses limit %p without asking the server', async (limit) => {
      const { fetch } = start([]);
      await expect(client.inbox.list({ limit })).rejects.toMatchObject({ name: 'HeraldError', code: 'bad_request', event: 'inbox.list' });
      expect(fetch).not.toHaveBeenCalled();
    });

    it('refuses an empty before without asking the server', async () => {
      const { fetch } = start([]);
      await expect(client.inbox.list({ before: '' })).rejects.toMatchObject({ code: 'bad_request' });
      expect(fetch).not.toHaveBeenCalled();
    });
  });

  describe('markRead', () => {
    it('counts a notification that arrived while it was in flight, and lists again to be sure', async () => {
      const { fetch, answer } = await startWelcomedWithHeldAnswers();
      const listing = client.inbox.list();
      await flush();
      answer(page(['n1'], 1));
      await settle(listing);
      const marking = client.inbox.markRead(['n1']);
      await flush();
      FakeSocket.last.receive('notification', notification('user:alice', 'n2'));
      expect(client.inbox.unread).toBe(2);
      // Counted before n2 was stored: taken as is, it would say nothing is unread.
      answer({ unread: 0 });
      await expect(settle(marking)).resolves.toEqual({ unread: 0 });
      expect(client.inbox.unread).toBe(1);
      // Whether the server counted n2 the answer does not say: the first page settles it.
      expect(fetch).toHaveBeenCalledTimes(3);
      answer({ items: [item('n2'), item('n1', true)], unread: 1, next: null });
      await jest.advanceTimersByTimeAsync(10);
      expect(client.inbox.unread).toBe(1);
      expect(unreadChanges.map((change) => change.unread)).toEqual([1, 2, 1]);
    });

    it('posts the ids, or all, and takes unread from the answer', async () => {
      const { requests } = start([
        { status: 200, body: page(['n3', 'n2', 'n1'], 3) },
        { status: 200, body: { unread: 1 } },
        { status: 200, body: { unread: 0 } },
      ]);
      await client.inbox.list();
      await expect(client.inbox.markRead(['n3', 'n2'])).resolves.toEqual({ unread: 1 });
      expect(client.inbox.unread).toBe(1);
      await expect(client.inbox.markRead('all')).resolves.toEqual({ unread: 0 });
      expect(requests.slice(1)).toEqual([
        {
          url: 'http://herald.test:3000/v1/inbox/read',
          method: 'POST',
          headers: { accept: 'application/json', authorization: 'Bearer user-token', 'content-type': 'application/json' },
          body: { ids: ['n3', 'n2'] },
        },
        expect.objectContaining({ url: 'http://herald.test:3000/v1/inbox/read', body: { all: true } }),
      ]);
      expect(unreadChanges.map((change) => change.unread)).toEqual([3, 1, 0]);
    });

    it.each([-5, 1.5, '3', null])('refuses an answer whose unread is %p, keeping the count it had', async (unread) => {
      start([
        { status: 200, body: page(['n2', 'n1'], 2) },
        { status: 200, body: { unread } },
      ]);
      await client.inbox.list();
      await expect(client.inbox.markRead(['n2'])).rejects.toMatchObject({ code: 'internal', event: 'inbox.markRead' });
      expect(client.inbox.unread).toBe(2);
    });

    it.each([[[]], [['']], [[42]], ['some']])('refuses %p without asking the server', async (ids) => {
      const { fetch } = start([]);
      await expect(client.inbox.markRead(ids as string[])).rejects.toMatchObject({ code: 'bad_request', event: 'inbox.markRead' });
      expect(fetch).not.toHaveBeenCalled();
    });

    it('sends up to 1000 ids, and refuses more without asking the server', async () => {
      const { fetch, requests } = start([{ status: 200, body: { unread: 0 } }]);
      const ids = (count: number) => Array.from({ length: count }, (_, i) => `n${i}`);
      await expect(client.inbox.markRead(ids(1000))).resolves.toEqual({ unread: 0 });
      expect((requests[0].body as { ids: string[] }).ids).toHaveLength(1000);
      await expect(client.inbox.markRead(ids(1001))).rejects.toMatchObject({ code: 'bad_request', event: 'inbox.markRead' });
      expect(fetch).toHaveBeenCalledTimes(1);
    });
  });

  describe('unread', () => {
    it('follows inbox events, and is current when the app hears of them', async () => {
      start([{ status: 200, body: page(['n2', 'n1'], 2) }]);
      await flush();
      FakeSocket.last.welcome();
      await client.inbox.list();
      const seen: Array<[number, number | null]> = [];
      client.on('inbox', (event) => seen.push([event.unread, client.inbox.unread]));
      FakeSocket.last.receive('inbox', { unread: 1, read: ['n2'] });
      FakeSocket.last.receive('inbox', { unread: 0, read: 'all' });
      expect(seen).toEqual([
        [1, 1],
        [0, 0],
      ]);
      expect(unreadChanges.map((change) => change.unread)).toEqual([2, 1, 0]);
    });

    it('counts a new notification of the personal room once, and nothing of other rooms', async () => {
      start([{ status: 200, body: page(['n1'], 1) }]);
      await flush();
      FakeSocket.last.welcome();
      const socket = FakeSocket.last;
      socket.receive('notification', notification('user:alice', 'n0'));
      expect(client.inbox.unread).toBeNull(); // nothing to count from before the inbox is known

      await client.inbox.list();
      socket.receive('notification', notification('user:alice', 'n1')); // listed already
      socket.receive('notification', notification('public:news', 'n2', 'e7-1'));
      expect(client.inbox.unread).toBe(1);
      const heard: Array<number | null> = [];
      client.on('notification', () => heard.push(client.inbox.unread));
      socket.receive('notification', notification('user:alice', 'n2')); // same id, now personal
      socket.receive('notification', notification('user:alice', 'n3'));
      expect(heard).toEqual([2, 3]);
    });

    it('remembers the ids of the last 1000 personal notifications, forgetting the oldest first', async () => {
      // A dedupe window of one seq: what the connection drops as a duplicate stays out of the way.
      start([{ status: 200, body: page([], 0) }], { dedupeWindow: 1 });
      await flush();
      FakeSocket.last.welcome();
      await client.inbox.list();
      const socket = FakeSocket.last;
      const ids = Array.from({ length: 1_001 }, (_, i) => `n${String(i).padStart(4, '0')}`);
      for (const id of ids) socket.receive('notification', notification('user:alice', id));
      expect(client.inbox.unread).toBe(1_001);
      socket.receive('notification', notification('user:alice', ids[1]));
      expect(client.inbox.unread).toBe(1_001);
      // The price of a bounded memory on a tab that stays open for days: an id that old counts again.
      socket.receive('notification', notification('user:alice', ids[0]));
      expect(client.inbox.unread).toBe(1_002);
    });

    it('forgets the ids and the position it counted for the previous user when welcomed as another', async () => {
      start([
        { status: 200, body: page(['n5'], 1) },
        { status: 200, body: page([], 0) },
      ]);
      await flush();
      FakeSocket.last.welcome('alice');
      await client.inbox.list();
      await dropForDrain();
      const resynced = new Promise((resolve) => client.once('unread', resolve));
      FakeSocket.last.welcome('bob');
      await expect(settle(resynced)).resolves.toEqual({ unread: 0, previous: 1 });
      // One publish to alice and bob has one id: in bob's inbox it is new.
      FakeSocket.last.receive('notification', notification('user:bob', 'n5', 'e2-1'));
      expect(client.inbox.unread).toBe(1);
      // bob's room has seqs of its own, some below the newest listed in alice's.
      FakeSocket.last.receive('notification', notification('user:bob', 'b1', 'e0-1'));
      expect(client.inbox.unread).toBe(2);
    });

    /** Lists the first page while notification `n2` arrives live, then answers with `answered`. */
    async function listCrossing(answered: InboxPage) {
      const { fetch, answer } = await startWelcomedWithHeldAnswers();
      const listing = client.inbox.list();
      await flush();
      FakeSocket.last.receive('notification', notification('user:alice', 'n2'));
      answer(answered);
      await settle(listing);
      return fetch;
    }

    it('counts a notification that arrives while the first page is listed and is not on it', async () => {
      // The server counted before the notification was stored: its answer neither lists nor counts it.
      const fetch = await listCrossing(page(['n1'], 1));
      expect(client.inbox.unread).toBe(2);
      // A later list that does include it counts it once.
      fetch.mockImplementationOnce(async () => new Response(JSON.stringify(page(['n2', 'n1'], 2)), { status: 200 }));
      await settle(client.inbox.list());
      expect(client.inbox.unread).toBe(2);
    });

    it('keeps its count when a notification arrives while a later page is listed (that answer cannot say whether it counted it)', async () => {
      const { answer } = await startWelcomedWithHeldAnswers();
      const first = client.inbox.list({ limit: 1 });
      await flush();
      answer(page(['n3'], 3, seqOf('n3')));
      await settle(first);
      const later = client.inbox.list({ limit: 1, before: seqOf('n3') });
      await flush();
      FakeSocket.last.receive('notification', notification('user:alice', 'n4'));
      expect(client.inbox.unread).toBe(4);
      // Counted before n4 was stored.
      answer(page(['n2'], 3, seqOf('n2')));
      await settle(later);
      expect(client.inbox.unread).toBe(4);
      // With nothing arriving meanwhile, a later page's count is taken as the server's.
      const quiet = client.inbox.list({ limit: 1, before: seqOf('n2') });
      await flush();
      answer(page(['n1'], 2, null));
      await settle(quiet);
      expect(client.inbox.unread).toBe(2);
    });

    it('takes the count as is when the listed page already has the notification that arrived meanwhile', async () => {
      await listCrossing(page(['n2', 'n1'], 2));
      expect(client.inbox.unread).toBe(2);
    });

    describe('after a reconnect that missed more notifications than the resync lists', () => {
      const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `n${String(from + i).padStart(3, '0')}`);
      /** Published while the client was offline: 60, more than the resync's first page of 50. */
      const missed = ids(1, 60);
      /** The newest 50; n000 was read on another device meanwhile, so 60 of the 61 are unread. */
      const resyncPage = page(ids(11, 60).reverse(), 60);

      /** Lists n000 unread, goes offline, and is welcomed again; the resync's list waits for `answerList`. */
      async function reconnectAfterMissing() {
        const lists: Array<(answered: InboxPage) => void> = [];
        const fetch = jest.fn(() => new Promise<Response>((resolve) => lists.push((answered) => resolve(new Response(JSON.stringify(answered), { status: 200 })))));
        start([], { fetch: fetch as unknown as typeof globalThis.fetch });
        await flush();
        FakeSocket.last.welcome('alice', { answerJoins: false });
        FakeSocket.last.answerJoins((join) => ({ room: join.room, seq: seqOf('n000') }));
        const listing = client.inbox.list();
        await flush();
        lists.shift()!(page(['n000'], 1));
        await settle(listing);
        await dropForDrain();
        const socket = FakeSocket.last;
        socket.welcome('alice', { answerJoins: false });
        await flush();
        expect(fetch).toHaveBeenCalledTimes(2);
        return {
          replay() {
            expect(socket.joins.map(({ room, since }) => ({ room, since }))).toEqual([{ room: 'user:alice', since: seqOf('n000') }]);
            socket.answerJoins((join) => ({ room: join.room, seq: seqOf('n060'), recovered: true, missed: missed.length }));
            for (const id of missed) socket.receive('notification', notification('user:alice', id));
          },
          async answerList() {
            const resynced = new Promise((resolve) => client.once('unread', resolve));
            lists.shift()!(resyncPage);
            await settle(resynced);
          },
          socket,
        };
      }

      it('counts the replay once when it comes while the resync lists', async () => {
        const offline = await reconnectAfterMissing();
        offline.replay();
        await offline.answerList();
        expect(client.inbox.unread).toBe(60);
        offline.socket.receive('notification', notification('user:alice', 'n061'));
        expect(client.inbox.unread).toBe(61);
      });

      it('counts the replay once when it comes after the resync listed', async () => {
        const offline = await reconnectAfterMissing();
        await offline.answerList();
        expect(client.inbox.unread).toBe(60);
        offline.replay();
        expect(client.inbox.unread).toBe(60);
        offline.socket.receive('notification', notification('user:alice', 'n061'));
        expect(client.inbox.unread).toBe(61);
      });
    });

    it.each([
      ['without a count', { read: 'all' }],
      ['without read', { unread: 1 }],
      ['with a count that is no count', { unread: -1, read: 'all' }],
    ])('reports an inbox event %s as a malformed frame, and keeps unread', async (_, data) => {
      start([]);
      await flush();
      FakeSocket.last.welcome();
      const events: unknown[] = [];
      const errors: HeraldError[] = [];
      client.on('inbox', (event) => events.push(event));
      client.on('error', (error) => errors.push(error));
      FakeSocket.last.receive('inbox', data);
      expect(events).toEqual([]);
      expect(errors.map((error) => error.code)).toEqual(['bad_request']);
      expect(client.inbox.unread).toBeNull();
    });

    it('lists again after a reconnect, since inbox events sent meanwhile are not replayed', async () => {
      const { requests } = start([
        { status: 200, body: page(['n1'], 1) },
        { status: 200, body: page(['n1'], 0) },
      ]);
      await flush();
      FakeSocket.last.welcome();
      await client.inbox.list();
      await dropForDrain();
      const resynced = new Promise((resolve) => client.once('unread', resolve));
      FakeSocket.last.welcome();
      await expect(settle(resynced)).resolves.toEqual({ unread: 0, previous: 1 });
      expect(requests.map((request) => request.url)).toEqual(['http://herald.test:3000/v1/inbox', 'http://herald.test:3000/v1/inbox']);
    });

    it('does not list again after a reconnect when the app lists from its own welcome listener', async () => {
      const { requests } = start([
        { status: 200, body: page(['n1'], 1) },
        { status: 200, body: page(['n1'], 1) },
      ]);
      await flush();
      FakeSocket.last.welcome();
      await client.inbox.list();
      client.on('welcome', () => void client.inbox.list({ limit: 10 }));
      await dropForDrain();
      FakeSocket.last.welcome();
      await flush();
      expect(requests.map((request) => request.url)).toEqual(['http://herald.test:3000/v1/inbox', 'http://herald.test:3000/v1/inbox?limit=10']);
    });

    it('lists again when the personal room cannot be recovered (the server lost its inbox with its Redis), and not for another room', async () => {
      const { requests } = start([
        { status: 200, body: page(['n3', 'n2', 'n1'], 3) },
        { status: 200, body: page(['n4'], 1) },
      ]);
      await flush();
      FakeSocket.last.welcome();
      const joined = client.join('public:news');
      await flush();
      FakeSocket.last.answerJoins((join) => ({ room: join.room, seq: null }));
      await settle(joined);
      await client.inbox.list();
      FakeSocket.last.receive('recovery', { room: 'public:news', seq: 'e2-000000000001' });
      await flush();
      expect(requests).toHaveLength(1);
      const resynced = new Promise((resolve) => client.once('unread', resolve));
      FakeSocket.last.receive('recovery', { room: 'user:alice', seq: 'e2-000000000001' });
      await expect(settle(resynced)).resolves.toEqual({ unread: 1, previous: 3 });
      expect(requests).toHaveLength(2);
    });

    it('tries a resync that failed for a while (a 503 as the server comes back, a network error) again, after 0.5-1 s then 1-2 s, until it is answered', async () => {
      const { requests, errors } = await listedThenReconnected([
        { status: 200, body: page(['n1'], 1) },
        { status: 503, body: { statusCode: 503, message: 'The message broker is unreachable', error: 'Service Unavailable' } },
        new TypeError('fetch failed'),
        { status: 200, body: page(['n1'], 0) },
      ]);
      await settle(Promise.resolve());
      expect(requests).toHaveLength(2);
      expect(errors.map((error) => error.code)).toEqual(['unavailable']);
      // With random() at 0, the least of each window: 0.5 s, then 1 s later.
      await jest.advanceTimersByTimeAsync(400);
      expect(requests).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(200);
      expect(requests).toHaveLength(3);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(requests).toHaveLength(4);
      expect(client.inbox.unread).toBe(0);
      expect(errors).toHaveLength(2);
      expect(jest.getTimerCount()).toBe(1); // the heartbeat watchdog only
    });

    it('asks again no sooner than a 503\'s Retry-After says, where the backoff would have asked sooner', async () => {
      const unavailable = { status: 503, headers: { 'retry-after': '2' }, body: { statusCode: 503, message: 'The message broker is unreachable' } };
      const { requests } = await listedThenReconnected([{ status: 200, body: page(['n1'], 1) }, unavailable, unavailable, { status: 200, body: page(['n1'], 0) }]);
      await settle(Promise.resolve());
      expect(requests).toHaveLength(2);
      // The backoff alone would ask again after 0.5 s, then 1 s (random() at 0).
      await jest.advanceTimersByTimeAsync(1_900);
      expect(requests).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(200);
      expect(requests).toHaveLength(3);
      await jest.advanceTimersByTimeAsync(1_800);
      expect(requests).toHaveLength(3);
      await jest.advanceTimersByTimeAsync(300);
      expect(requests).toHaveLength(4);
      expect(client.inbox.unread).toBe(0);
    });

    it('leaves a recovery of the personal room to a failed resync\'s retry already due, which keeps its count of tries', async () => {
      const unavailable = { status: 503, body: { statusCode: 503, message: 'The message broker is unreachable' } };
      const { requests } = await listedThenReconnected([{ status: 200, body: page(['n1'], 1) }, unavailable, { status: 200, body: page(['n1'], 0) }]);
      client.on('error', () => undefined);
      await settle(Promise.resolve());
      expect(requests).toHaveLength(2);
      FakeSocket.last.receive('recovery', { room: 'user:alice', seq: 'e2-000000000001' });
      await jest.advanceTimersByTimeAsync(400);
      expect(requests).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(200);
      expect(requests).toHaveLength(3);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(requests).toHaveLength(3);
      expect(client.inbox.unread).toBe(0);
    });

    it('gives up on a resync after five retries, spread over about 15 s', async () => {
      const unavailable = { status: 503, body: { statusCode: 503, message: 'The message broker is unreachable' } };
      const { requests, errors } = await listedThenReconnected([{ status: 200, body: page(['n1'], 1) }, ...Array.from({ length: 7 }, () => unavailable)]);
      await jest.advanceTimersByTimeAsync(60_000);
      // The app's list, the resync, and five retries (0.5 + 1 + 2 + 4 + 8 s with random() at 0).
      expect(requests).toHaveLength(7);
      expect(errors).toHaveLength(6);
      expect(client.inbox.unread).toBe(1);
    });

    it('lists once after a reconnect whose rejoin of the personal room says recovered: false (the resync answers for both)', async () => {
      const { fetch, answer } = await startWelcomedWithHeldAnswers();
      const listed = client.inbox.list();
      await flush();
      answer(page(['n1'], 1));
      await settle(listed);
      FakeSocket.last.receive('notification', notification('user:alice', 'n2'));
      await dropForDrain();
      FakeSocket.last.welcome('alice', { answerJoins: false });
      await flush();
      expect(fetch).toHaveBeenCalledTimes(2);
      const recoveries: unknown[] = [];
      client.on('recovery', (recovery) => recoveries.push(recovery));
      FakeSocket.last.answerJoins((join) => ({ room: join.room, seq: 'e2-000000000001', recovered: false, missed: 0 }));
      await jest.advanceTimersByTimeAsync(5_000);
      expect(recoveries).toEqual([{ room: 'user:alice', recovered: false, missed: 0 }]);
      expect(fetch).toHaveBeenCalledTimes(2);
      answer(page(['n3'], 1));
      await jest.advanceTimersByTimeAsync(5_000);
      expect(client.inbox.unread).toBe(1);
      expect(fetch).toHaveBeenCalledTimes(2);
    });

    it('does not try a failed resync again after an answer that will not change, when the app lists itself, or once closed', async () => {
      const refused = { status: 401, body: { statusCode: 401, message: 'Unauthorized' } };
      const unavailable = { status: 503, body: { statusCode: 503, message: 'The message broker is unreachable' } };
      const reconnect = async () => {
        await dropForDrain();
        FakeSocket.last.welcome();
        await settle(Promise.resolve());
      };
      const { requests } = start([{ status: 200, body: page(['n1'], 1) }, refused, unavailable, { status: 200, body: page(['n1'], 1) }, unavailable]);
      client.on('error', () => undefined);
      await flush();
      FakeSocket.last.welcome();
      await client.inbox.list();
      await reconnect();
      await jest.advanceTimersByTimeAsync(60_000);
      expect(requests).toHaveLength(2);
      // The app's own list takes over from the retry.
      await reconnect();
      await client.inbox.list();
      await jest.advanceTimersByTimeAsync(60_000);
      expect(requests).toHaveLength(4);
      await reconnect();
      expect(requests).toHaveLength(5);
      client.close();
      await jest.advanceTimersByTimeAsync(60_000);
      expect(requests).toHaveLength(5);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('never asks the server on its own when the app does not use the inbox', async () => {
      const { fetch } = start([]);
      await flush();
      FakeSocket.last.welcome();
      await dropForDrain();
      FakeSocket.last.welcome();
      await flush();
      expect(fetch).not.toHaveBeenCalled();
    });
  });

  describe('errors', () => {
    it('rejects 400 with a HeraldValidationError naming the field, and keeps unread', async () => {
      start([
        { status: 200, body: page(['n1'], 1) },
        { status: 400, body: { statusCode: 400, message: ['ids must contain at least 1 elements'], error: 'Bad Request' } },
      ]);
      await client.inbox.list();
      const failure = client.inbox.markRead(['n1']);
      await expect(failure).rejects.toBeInstanceOf(HeraldValidationError);
      await expect(failure).rejects.toMatchObject({ status: 400, message: 'HTTP 400: ids must contain at least 1 elements' });
      expect(client.inbox.unread).toBe(1);
    });

    it('rejects 401 with a HeraldAuthError and 5xx with a HeraldHttpError', async () => {
      start([
        { status: 401, body: { statusCode: 401, message: 'Unauthorized' } },
        { status: 503, raw: '<html>down</html>' },
      ]);
      await expect(client.inbox.list()).rejects.toBeInstanceOf(HeraldAuthError);
      const unavailable = client.inbox.list();
      await expect(unavailable).rejects.toBeInstanceOf(HeraldHttpError);
      await expect(unavailable).rejects.toMatchObject({ status: 503, body: undefined });
    });

    it('rejects a refused connection (or a CORS refusal) with a HeraldNetworkError', async () => {
      start([new TypeError('Failed to fetch')]);
      const failure = client.inbox.list();
      await expect(failure).rejects.toBeInstanceOf(HeraldNetworkError);
      await expect(failure).rejects.toThrow('inbox.list failed: Failed to fetch');
    });

    it('gives up on a request the server does not answer within requestTimeoutMs, with a HeraldNetworkError', async () => {
      const signals: AbortSignal[] = [];
      const fetch = jest.fn((_url: unknown, init?: RequestInit) => {
        const signal = init!.signal!;
        signals.push(signal);
        return new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      });
      start([], { fetch: fetch as unknown as typeof globalThis.fetch, requestTimeoutMs: 5_000 });
      const listing = outcomeOf(client.inbox.list());
      await jest.advanceTimersByTimeAsync(4_999);
      expect(listing()).toEqual({ status: 'pending' });
      await jest.advanceTimersByTimeAsync(1);
      expect(signals.map((signal) => signal.aborted)).toEqual([true]);
      expect(listing()).toMatchObject({ status: 'rejected', reason: expect.any(HeraldNetworkError) });
      expect(listing()).toMatchObject({ reason: { message: expect.stringMatching(/^inbox\.list failed: .*aborted due to timeout$/) } });
    });

    it.each([
      ['a body that is not JSON', '<html>ok</html>'],
      ['an empty body', ''],
    ])('rejects a 200 with %s with a HeraldNetworkError', async (_, raw) => {
      start([
        { status: 200, raw },
        { status: 200, raw },
      ]);
      const listing = client.inbox.list();
      await expect(listing).rejects.toBeInstanceOf(HeraldNetworkError);
      await expect(listing).rejects.toThrow(/^inbox\.list: could not read the answer: /);
      await expect(client.inbox.markRead('all')).rejects.toThrow(/^inbox\.markRead: could not read the answer: /);
      expect(client.inbox.unread).toBeNull();
    });

    it('rejects a failing getToken with code token, without a request', async () => {
      const { fetch } = start([], { getToken: () => Promise.reject(new Error('signed out')) });
      const failure = client.inbox.markRead('all');
      await expect(failure).rejects.toBeInstanceOf(HeraldError);
      await expect(failure).rejects.toMatchObject({ code: 'token', event: 'inbox.markRead' });
      expect(fetch).not.toHaveBeenCalled();
    });

    it('trims the newline a token endpoint answers with, and refuses what cannot be a JWT', async () => {
      const tokens = ['user-token\n', 'not a token'];
      const { fetch, requests } = start([{ status: 200, body: page([], 0) }], { getToken: () => tokens.shift()! });
      await client.inbox.list();
      expect(requests[0].headers.authorization).toBe('Bearer user-token');
      await expect(client.inbox.list()).rejects.toMatchObject({ code: 'token', event: 'inbox.list', message: expect.stringContaining('getToken') });
      expect(fetch).toHaveBeenCalledTimes(1);
    });

    it.each([
      ['items that are no list', { items: 'nope', unread: 0, next: null }],
      ['an item that is null', { items: [null], unread: 1, next: null }],
      ['an item without its id', { items: [{ ...item('a'), id: undefined }], unread: 1, next: null }],
      ['an unread count below zero', { items: [], unread: -5, next: null }],
      ['an unread count that is no whole number', { items: [], unread: 1.5, next: null }],
    ])('rejects an answer with %s as not an inbox page', async (_, body) => {
      start([{ status: 200, body }]);
      await expect(client.inbox.list()).rejects.toMatchObject({ name: 'HeraldError', code: 'internal' });
      expect(client.inbox.unread).toBeNull();
    });

    it("lets the client's close reach only the requests still in flight, not those answered or failed", async () => {
      // With AbortSignal.any, every request's signal stayed linked to the client-long close
      // signal once it was over (Node kept memory per request for as long as the client lived),
      // and a close still aborted it.
      const signals: AbortSignal[] = [];
      const answers: Answer[] = [{ status: 200, body: page([], 0) }, { status: 500, body: {} }, new TypeError('Failed to fetch')];
      const fetch = jest.fn((_url: unknown, init?: RequestInit) => {
        const signal = init!.signal!;
        signals.push(signal);
        const answer = answers.shift();
        if (answer === undefined) return new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        if (answer instanceof Error) return Promise.reject(answer);
        return Promise.resolve(new Response(JSON.stringify(answer.body), { status: answer.status }));
      });
      start([], { fetch: fetch as unknown as typeof globalThis.fetch, requestTimeoutMs: 60_000 });
      await client.inbox.list();
      await expect(client.inbox.list()).rejects.toBeInstanceOf(HeraldHttpError);
      await expect(client.inbox.list()).rejects.toBeInstanceOf(HeraldNetworkError);
      const inFlight = client.inbox.list().catch((error: unknown) => error);
      await flush();
      expect(signals).toHaveLength(4);
      client.close();
      expect(signals.map((signal) => signal.aborted)).toEqual([false, false, false, true]);
      expect(await inFlight).toMatchObject({ code: 'closed', event: 'inbox.list' });
    });

    it('rejects a call waiting for getToken or for the server as closed when the client closes', async () => {
      const fetch = jest.fn(
        (_url: unknown, init?: RequestInit) => new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason))),
      );
      let tokenAsked = false;
      start([], {
        fetch: fetch as unknown as typeof globalThis.fetch,
        // The first call's getToken never answers; the second's does, and its request then waits.
        getToken: () => (tokenAsked ? 'user-token' : ((tokenAsked = true), new Promise<string>(() => undefined))),
        requestTimeoutMs: 60_000,
      });
      const waitingForToken = outcomeOf(client.inbox.list());
      await flush();
      const waitingForServer = outcomeOf(client.inbox.list());
      await flush();
      expect(fetch).toHaveBeenCalledTimes(1);
      client.close();
      await flush();
      expect(waitingForToken()).toMatchObject({ status: 'rejected', reason: { code: 'closed', event: 'inbox.list', message: 'the client was closed while getToken was pending' } });
      expect(waitingForServer()).toMatchObject({ status: 'rejected', reason: { code: 'closed', event: 'inbox.list' } });
      // Nothing of either is left to run: no timer keeps a Node process alive.
      expect(jest.getTimerCount()).toBe(0);
    });

    it('rejects once the client is closed', async () => {
      const { fetch } = start([]);
      client.close();
      await expect(client.inbox.list()).rejects.toMatchObject({ code: 'closed' });
      expect(fetch).not.toHaveBeenCalled();
    });
  });

  describe('on a feed of its own', () => {
    /** What the inbox follows, played by the test: a HeraldClient's events and state. */
    class Feed extends TypedEmitter<InboxFeedEvents> {
      state: ConnectionState = 'open';

      welcome(user: string): void {
        const welcome: Welcome = { connectionId: 'c1', user, heartbeatMs: 25_000, maxMessageBytes: 65_536, rooms: [`user:${user}`], expiresAt: null };
        this.emit('welcome', welcome);
      }
    }

    it('does not resync after a welcome when the feed closed in the same turn, and reports nothing', async () => {
      const feed = new Feed();
      const { fetch } = fakeFetch([{ status: 200, body: page(['n1'], 1) }]);
      const errors: HeraldError[] = [];
      const inbox = new InboxClient(feed, {
        wsUrl: 'ws://herald.test:3000/ws',
        getToken: () => 'user-token',
        fetch,
        requestTimeoutMs: 10_000,
        onUnread: () => undefined,
        onError: (error) => errors.push(error),
      });
      feed.welcome('alice');
      await inbox.list();
      feed.welcome('alice');
      // A welcome listener of the app closed it, before the resync's turn came.
      feed.state = 'closed';
      await flush();
      expect(errors).toEqual([]);
      expect(fetch).toHaveBeenCalledTimes(1);
    });
  });

  describe('the HTTP URL', () => {
    it.each([
      ['ws://herald.test:3000/ws', 'http://herald.test:3000'],
      ['wss://herald.example.com/realtime/ws?x=1', 'https://herald.example.com'],
      ['https://herald.example.com/ws', 'https://herald.example.com'],
    ])('of %s is %s', (wsUrl, httpUrl) => {
      expect(httpUrlOf(wsUrl)).toBe(httpUrl);
    });

    it('is httpUrl when given, keeping its path prefix', async () => {
      const { requests } = start([{ status: 200, body: page([], 0) }], { httpUrl: 'https://api.example.com/herald' });
      await client.inbox.list();
      expect(requests[0].url).toBe('https://api.example.com/herald/v1/inbox');
    });
  });
});
