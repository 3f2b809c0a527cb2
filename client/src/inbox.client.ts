import { backoffCeilingMs, type BackoffOptions } from './backoff.policy.ts';
import type { ConnectionState } from './connection.state.ts';
import { isCount } from './server-frame.reader.ts';
import { requestToken } from './token.request.ts';
import { HeraldError, HeraldNetworkError, describe, httpErrorOf, isObject, isRetryableFailure, retryDelayMs } from './herald.errors.ts';
import {
  INBOX_LIMIT_MAX,
  INBOX_PATH,
  INBOX_READ_IDS_MAX,
  INBOX_READ_PATH,
  personalRoom,
  type InboxItem,
  type InboxPage,
  type InboxReadRequest,
  type InboxEvent,
  type InboxReadResponse,
  type Notification,
  type Welcome,
} from './protocol.ts';

export interface InboxListOptions {
  /** 1..100; the server's default (50) when absent. */
  limit?: number;
  /** The `next` of the previous page; absent or null for the newest page. */
  before?: string | null;
}

/** The connection events the inbox follows. */
export interface InboxFeedEvents {
  welcome: Welcome;
  notification: Notification;
  inbox: InboxEvent;
  recovery: { room: string; recovered: boolean };
}

/** What the inbox follows on its connection (a HeraldClient). */
export interface InboxFeed {
  readonly state: ConnectionState;
  on<E extends keyof InboxFeedEvents>(event: E, listener: (payload: InboxFeedEvents[E]) => void): () => void;
}

export interface InboxClientOptions {
  /** The connection's WebSocket URL; the HTTP URL is derived from it unless `httpUrl` is given. */
  wsUrl: string;
  httpUrl?: string;
  getToken: () => string | Promise<string>;
  fetch?: typeof fetch;
  requestTimeoutMs: number;
  /** Called after `unread` changed. */
  onUnread: (unread: number, previous: number | null) => void;
  /** A background resync failed (the app's own calls reject instead). */
  onError: (error: HeraldError) => void;
  /** Aborted by the client's close(): a call waiting for getToken or the server then rejects as `closed`. */
  closed?: AbortSignal;
  /** Spreads the lists it makes by itself ([0, 1)); Math.random when absent. */
  random?: () => number;
}

/**
 * Personal notification ids this client has counted, so that a notification that is both
 * listed and received live (or replayed after a reconnect) is counted once. Above INBOX_SIZE.
 */
const KNOWN_IDS_MAX = 1_000;

/**
 * How often a background list that failed for a reason that passes (a 503 while the server's
 * Redis comes back, a network error) is tried again, and the wait before the first retry, which
 * doubles with each (with jitter: 0.5-1 s, 1-2 s, ... 8-16 s).
 */
const RECOUNT_RETRIES = 5;
const RECOUNT_BACKOFF: BackoffOptions = { initialDelayMs: 1_000, maxDelayMs: 16_000, factor: 2 };
/**
 * The window the list after a `recovery` of the personal room is spread over: the server sends
 * it to every connection of a room at once (its Redis lost its data), and each would otherwise
 * list at the same moment, as that Redis comes back.
 */
const RECOVERY_SPREAD_MS = 2_000;

/**
 * The user's inbox over the HTTP API (contract, section 6), authorised by the same token as
 * the connection. `unread` follows the server: list and markRead answers, `inbox` events from
 * every tab of the user, and new notifications in the personal room.
 */
export class InboxClient {
  readonly #feed: InboxFeed;
  readonly #options: InboxClientOptions;
  readonly #fetch: typeof fetch;
  readonly #known = new Set<string>();
  #unread: number | null = null;
  #user: string | null = null;
  /** Counts list() calls, so the resync after a reconnect can see whether the app listed already. */
  #lists = 0;
  /**
   * Personal notifications (id -> seq) that arrived while a first page was being listed, and how
   * many such lists are in flight. The server's answer may have been computed before they were
   * stored: one it does not list and that is newer than what it lists is newer than its count,
   * and is added to it.
   */
  #arrivedWhileListing = new Map<string, string>();
  #firstPagesInFlight = 0;
  /**
   * The newest seq a list answer held. Inbox seqs are the personal room's, ordered as stored
   * (the server pages by comparing them as strings), so every notification up to it was stored
   * before that answer's count and is in it: one that arrives later (a replay after a reconnect
   * brings all that came meanwhile, more than a page of them older than the page) is not
   * counted again.
   */
  #countedUpTo: string | null = null;
  /**
   * Counts the new personal notifications added to `unread` here. Neither a later page's answer
   * (an older part of the inbox) nor markRead's says which of those its count holds: when any
   * came while one was in flight, the count kept here stands (list) or is added (markRead).
   */
  #counted = 0;
  /** The next try of a background list that failed (#recount). */
  #recountTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(feed: InboxFeed, options: InboxClientOptions) {
    this.#feed = feed;
    this.#options = options;
    // Browsers throw "Illegal invocation" when their fetch is called with another `this`.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    feed.on('welcome', (welcome) => this.#onWelcome(welcome));
    feed.on('notification', (notification) => this.#onNotification(notification));
    feed.on('inbox', ({ unread }) => this.#setUnread(unread));
    feed.on('recovery', ({ room, recovered }) => this.#onRecovery(room, recovered));
    options.closed?.addEventListener('abort', () => clearTimeout(this.#recountTimer), { once: true });
  }

  /** Unread items in the whole inbox as the server last told; null until the inbox was listed or marked. */
  get unread(): number | null {
    return this.#unread;
  }

  /** A page of the inbox, newest first. Pass the page's `next` as `before` for the following one. */
  async list(options: InboxListOptions = {}): Promise<InboxPage> {
    const { limit, before } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= INBOX_LIMIT_MAX)) {
      throw new HeraldError('bad_request', `limit must be an integer from 1 to ${INBOX_LIMIT_MAX}`, 'inbox.list');
    }
    if (before !== undefined && before !== null && (typeof before !== 'string' || before === '')) {
      throw new HeraldError('bad_request', 'before must be the next of a previous page', 'inbox.list');
    }
    this.#lists += 1;
    const query = new URLSearchParams();
    if (limit !== undefined) query.set('limit', String(limit));
    if (before) query.set('before', before);
    const search = query.toString();
    const firstPage = !before;
    if (firstPage) this.#firstPagesInFlight += 1;
    const countedBefore = this.#counted;
    let page: InboxPage;
    let arrived: Array<[id: string, seq: string]> = [];
    try {
      page = await this.#call<InboxPage>('GET', search ? `${INBOX_PATH}?${search}` : INBOX_PATH, undefined, 'inbox.list');
    } finally {
      if (firstPage) {
        this.#firstPagesInFlight -= 1;
        arrived = [...this.#arrivedWhileListing];
        // Kept only while a first page is in flight, whether this one answered or failed.
        if (this.#firstPagesInFlight === 0) this.#arrivedWhileListing.clear();
      }
    }
    if (!isObject(page) || !Array.isArray(page.items) || !page.items.every(isInboxItem) || !isCount(page.unread)) {
      throw new HeraldError('internal', 'the server answered with something that is not an inbox page', 'inbox.list');
    }
    for (const item of page.items) {
      this.#remember(item.id);
      if (this.#countedUpTo === null || item.seq > this.#countedUpTo) this.#countedUpTo = item.seq;
    }
    // The newest items are always on the first page: one that arrived live, is not listed and is
    // newer than every item listed was stored after the server counted, so the count lacks it.
    const listed = new Set(page.items.map((item) => item.id));
    const counted = (seq: string): boolean => this.#countedUpTo !== null && seq <= this.#countedUpTo;
    const unread = page.unread + arrived.filter(([id, seq]) => !listed.has(id) && !counted(seq)).length;
    if (firstPage || this.#counted === countedBefore || this.#unread === null) this.#setUnread(unread);
    return page;
  }

  /**
   * Marks items read (ids not in the inbox are ignored by the server), or every item with 'all'.
   * Every connection of the user, this one included, then gets an `inbox` event.
   *
   * The answer's count is taken as `unread`, plus the personal notifications that arrived while
   * the request was in flight: the server most likely counted before they were stored (taken as
   * is, the answer showed 0 with a new notification unread). Whether it did cannot be told from
   * the answer, so the first page is then listed again, and its count (which accounts for what
   * arrives meanwhile) settles it.
   */
  async markRead(ids: readonly string[] | 'all'): Promise<InboxReadResponse> {
    let body: InboxReadRequest;
    if (ids === 'all') body = { all: true };
    else if (Array.isArray(ids) && ids.length > 0 && ids.every((id) => typeof id === 'string' && id !== '')) body = { ids: [...ids] };
    else throw new HeraldError('bad_request', "markRead takes a non-empty list of ids or 'all'", 'inbox.markRead');
    if (body.ids && body.ids.length > INBOX_READ_IDS_MAX) {
      throw new HeraldError('bad_request', `markRead takes at most ${INBOX_READ_IDS_MAX} ids at a time (or 'all')`, 'inbox.markRead');
    }
    const countedBefore = this.#counted;
    const answer = await this.#call<InboxReadResponse>('POST', INBOX_READ_PATH, body, 'inbox.markRead');
    if (!isObject(answer) || !isCount(answer.unread)) {
      throw new HeraldError('internal', 'the server answered without an unread count', 'inbox.markRead');
    }
    const arrived = this.#counted - countedBefore;
    this.#setUnread(answer.unread + arrived);
    if (arrived > 0) this.#recount('inbox.markRead');
    return answer;
  }

  #onWelcome(welcome: Welcome): void {
    const reconnected = this.#user !== null;
    if (reconnected && welcome.user !== this.#user) {
      this.#known.clear();
      this.#countedUpTo = null;
    }
    this.#user = welcome.user;
    if (!reconnected || this.#unread === null) return;
    // `inbox` events sent while this client was away are not replayed (they never enter
    // history), so its count may be stale: ask again, unless the app's own welcome listener
    // (which runs before this continuation) already did.
    const lists = this.#lists;
    void Promise.resolve().then(() => {
      if (this.#lists !== lists || this.#feed.state === 'closed') return;
      this.#recount('inbox.list');
    });
  }

  /**
   * The personal room's history no longer reaches back to what this client saw (the server's
   * Redis lost its data, or the client was away longer than history lasts): the notifications
   * missed are not all replayed, and the inbox may have lost items too, so the count kept here
   * no longer follows the server's. Ask it again.
   */
  #onRecovery(room: string, recovered: boolean): void {
    if (recovered || this.#user === null || room !== personalRoom(this.#user) || this.#unread === null || this.#feed.state === 'closed') return;
    // A first page already asked for (the resync after the reconnect this rejoin belongs to), or
    // one due (a failed one's retry, which keeps its count of tries), answers for it.
    if (this.#firstPagesInFlight > 0 || this.#recountTimer !== undefined) return;
    this.#recountLater('inbox.list', 0, this.#random() * RECOVERY_SPREAD_MS);
  }

  /** #recount after `delayMs`, unless the app lists after `lists` lists or the client closes. */
  #recountLater(event: 'inbox.list' | 'inbox.markRead', attempt: number, delayMs: number, lists = this.#lists): void {
    clearTimeout(this.#recountTimer);
    this.#recountTimer = setTimeout(() => {
      this.#recountTimer = undefined;
      if (this.#lists === lists && this.#feed.state !== 'closed') this.#recount(event, attempt);
    }, delayMs);
  }

  #random(): number {
    return (this.#options.random ?? Math.random)();
  }

  /**
   * Lists the first page for its count; a failure goes to onError, as the app did not ask. One
   * that may pass (a reconnect lands while the server's Redis is still coming back, and the
   * inbox answers 503) is tried again after a while, unless the app listed meanwhile, a later
   * resync took over or the client closed.
   */
  #recount(event: 'inbox.list' | 'inbox.markRead', attempt = 0): void {
    clearTimeout(this.#recountTimer);
    this.#recountTimer = undefined;
    const listsAfterThis = this.#lists + 1;
    this.list().catch((error: unknown) => {
      this.#options.onError(
        error instanceof HeraldError ? error : new HeraldError('unavailable', `inbox resync failed: ${describe(error)}`, event, { cause: error }),
      );
      if (!isRetryableFailure(error) || attempt >= RECOUNT_RETRIES) return;
      // Clients that failed together (the same outage) do not ask again together; the upper
      // half of the window, so no retry comes at once after a failure. A server that said when
      // to come back (Retry-After on a 503 or 429) is not asked sooner, and the same spread
      // goes on top of its moment.
      const ceiling = backoffCeilingMs(attempt, RECOUNT_BACKOFF);
      const spreadMs = (this.#random() * ceiling) / 2;
      this.#recountLater(event, attempt + 1, retryDelayMs(ceiling / 2 + spreadMs, error, RECOUNT_BACKOFF.maxDelayMs, spreadMs), listsAfterThis);
    });
  }

  #onNotification(notification: Notification): void {
    if (this.#user === null || notification.room !== personalRoom(this.#user)) return;
    // Every notification of the personal room lands in the inbox unread.
    if (!this.#remember(notification.id)) return;
    // Stored before a list answer that held a newer item: that answer's count has it already.
    if (this.#countedUpTo !== null && notification.seq <= this.#countedUpTo) return;
    if (this.#firstPagesInFlight > 0) this.#arrivedWhileListing.set(notification.id, notification.seq);
    if (this.#unread !== null) {
      this.#counted += 1;
      this.#setUnread(this.#unread + 1);
    }
  }

  /** True when `id` was not known yet. */
  #remember(id: string): boolean {
    if (this.#known.has(id)) return false;
    this.#known.add(id);
    if (this.#known.size > KNOWN_IDS_MAX) this.#known.delete(this.#known.values().next().value!);
    return true;
  }

  #setUnread(unread: number): void {
    const previous = this.#unread;
    if (previous === unread) return;
    this.#unread = unread;
    this.#options.onUnread(unread, previous);
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body: object | undefined, what: string): Promise<T> {
    if (this.#feed.state === 'closed') throw new HeraldError('closed', 'the client is closed', what);
    const url = this.#endpoint(path, what);
    const closed = this.#options.closed;
    const token = await requestToken(this.#options.getToken, { option: 'getToken', timeoutMs: this.#options.requestTimeoutMs, event: what, signal: closed });
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const deadline = requestDeadline(this.#options.requestTimeoutMs, closed);
    try {
      let response: Response;
      try {
        response = await this.#fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: deadline.signal });
      } catch (error) {
        if (closed?.aborted) throw new HeraldError('closed', 'the client was closed while the request was pending', what, { cause: error });
        // A browser reports a CORS refusal this way too: the page's origin is not in ALLOWED_ORIGINS.
        throw new HeraldNetworkError(`${what} failed: ${describe(error)}`, { cause: error });
      }
      if (!response.ok) throw await httpErrorOf(response);
      try {
        return (await response.json()) as T;
      } catch (error) {
        throw new HeraldNetworkError(`${what}: could not read the answer: ${describe(error)}`, { cause: error });
      }
    } finally {
      deadline.end();
    }
  }

  #endpoint(path: string, what: string): string {
    try {
      const base = this.#options.httpUrl ?? httpUrlOf(this.#options.wsUrl);
      // Relative to the base with a trailing slash, so an httpUrl with a path prefix keeps it.
      return new URL(path.slice(1), base.endsWith('/') ? base : `${base}/`).toString();
    } catch (error) {
      throw new HeraldError('bad_request', `no HTTP URL for the inbox (${describe(error)}); pass options.httpUrl`, what, { cause: error });
    }
  }
}

/**
 * One request's signal: aborted after `timeoutMs` with a TimeoutError (as AbortSignal.timeout's)
 * or when `closed` aborts, with its reason; `end()` once the request is over. Not
 * AbortSignal.any with `closed`: a runtime may keep the combined signal registered with its
 * sources until they are collected (Node does, about 180 bytes a request), and `closed` lives as
 * long as the client. Here the only link to it is a listener that `end` removes.
 */
function requestDeadline(timeoutMs: number, closed: AbortSignal | undefined): { signal: AbortSignal; end(): void } {
  const controller = new AbortController();
  const onClosed = () => controller.abort(closed!.reason);
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeoutMs);
  if (closed?.aborted) onClosed();
  else closed?.addEventListener('abort', onClosed, { once: true });
  return {
    signal: controller.signal,
    end: () => {
      clearTimeout(timer);
      closed?.removeEventListener('abort', onClosed);
    },
  };
}

/** An item as section 6 of the contract lists it; what the client and the bell read of it. */
function isInboxItem(item: unknown): item is InboxItem {
  return (
    isObject(item) &&
    typeof item.id === 'string' &&
    typeof item.seq === 'string' &&
    typeof item.type === 'string' &&
    isObject(item.payload) &&
    typeof item.timestamp === 'string' &&
    typeof item.read === 'boolean'
  );
}

/** `wss://host/ws` -> `https://host`: Herald serves its HTTP API on the WebSocket's host and port. */
export function httpUrlOf(wsUrl: string): string {
  const url = new URL(wsUrl, (globalThis as { location?: { href: string } }).location?.href);
  const scheme = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  return `${scheme}//${url.host}`;
}
