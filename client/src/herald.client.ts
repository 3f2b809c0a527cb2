import { HeraldError, describe, type HeraldErrorCode } from './herald.errors.ts';
import { TRANSITIONS, type ConnectionState } from './connection.state.ts';
import { FramePacer } from './frame.pacer.ts';
import { InboxClient } from './inbox.client.ts';
import {
  BEARER_PROTOCOL_PREFIX,
  CloseCode,
  MESSAGE_TEXT_MAX_CHARS,
  PROTOCOL_VERSION,
  ROOM_NAME_PATTERN,
  messageTextLength,
  personalRoom,
  type Ack,
  type ChatMessage,
  type ClientEvents,
  type CloseAdvice,
  type InboxEvent,
  type Joined,
  type Left,
  type Notification,
  type PresenceEvent,
  type Welcome,
} from './protocol.ts';
import { checkedNumberOption, type NumberOptionRule } from './number-option.rule.ts';
import { decideReconnect, reconnectOptionsOf, type ReconnectOptions } from './reconnect.policy.ts';
import { RequestTracker, type ReplyTypes, type RequestEvent } from './request.tracker.ts';
import { RoomJoiner } from './room.joiner.ts';
import { RoomTracker } from './room.tracker.ts';
import { readServerFrame } from './server-frame.reader.ts';
import { timerDelayMs } from './timer.limit.ts';
import { TokenRefresher } from './token.refresher.ts';
import { requestToken } from './token.request.ts';
import { TypedEmitter } from './typed.emitter.ts';

export type { ConnectionState } from './connection.state.ts';

/**
 * The part of a WebSocket the client uses. The browser's WebSocket, Node's global one (22+)
 * and the `ws` package all fit; handlers take `any` because their event types differ.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface HeraldClientOptions {
  /**
   * Returns a JWT. Called before every connection attempt and to refresh before `expiresAt`;
   * it has connectTimeoutMs to answer, and white space around the token is trimmed.
   */
  getToken: () => string | Promise<string>;
  /** Defaults to `globalThis.WebSocket`; pass `ws`'s WebSocket on Node 20. */
  WebSocket?: WebSocketConstructor;
  /** Send the token as `?token=` instead of the `bearer.<JWT>` subprotocol. Off by default. */
  tokenInUrl?: boolean;
  /** Rooms to join on connect, besides the personal `user:<sub>` room. */
  rooms?: readonly string[];
  reconnect?: Partial<ReconnectOptions>;
  /** How long join, leave, send and refresh wait for their reply. */
  requestTimeoutMs?: number;
  /** How long a connection attempt may take, from asking getToken to `welcome`. */
  connectTimeoutMs?: number;
  /** Refresh the token this long before it expires (at most half of its remaining lifetime). */
  refreshBeforeExpiryMs?: number;
  /** Recent seqs remembered per room to drop duplicates; above the server's HISTORY_SIZE. */
  dedupeWindow?: number;
  /** For tests: a source of randomness in [0, 1). */
  random?: () => number;
  /**
   * Herald's HTTP base URL for the inbox; by default the WebSocket URL's host with http(s)
   * (`wss://host/ws` -> `https://host`). Set it when the HTTP API sits under a path prefix.
   */
  httpUrl?: string;
  /** Defaults to the global fetch (browsers, Node 18+). */
  fetch?: typeof fetch;
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 15_000,
  refreshBeforeExpiryMs: 60_000,
  dedupeWindow: 1_000,
} as const;

/**
 * What each of those options may be: a timeout of 0 or less fired at once (Node warned and took
 * 1 ms), and a dedupeWindow of 0 remembered no seq, so every duplicate reached the app.
 */
const OPTION_RULES: Record<keyof typeof DEFAULTS, NumberOptionRule> = {
  requestTimeoutMs: { least: 1 },
  connectTimeoutMs: { least: 1 },
  refreshBeforeExpiryMs: { least: 0 },
  dedupeWindow: { least: 1, whole: true },
};

/** An option of DEFAULTS as given (checkedNumberOption), or its default. */
function optionOf(options: HeraldClientOptions, key: keyof typeof DEFAULTS): number {
  return checkedNumberOption(key, options[key], OPTION_RULES[key]) ?? DEFAULTS[key];
}

/** Whether `room` is a room name the server would take (a string: `join(undefined)` passed the pattern as "undefined"). */
function isRoomName(room: unknown): room is string {
  return typeof room === 'string' && ROOM_NAME_PATTERN.test(room);
}

/** Close code the client uses when it abandons a socket itself (silent, or too slow to greet). */
const CLIENT_TIMEOUT_CLOSE = CloseCode.ClientTimeout;
/** What `disconnect` reports when getToken failed, was too slow or returned no JWT: retried with backoff. */
const GET_TOKEN_FAILED = { code: 1011, reason: 'get_token_failed' } as const;
/**
 * The shortest heartbeat the watchdog believes. A welcome with `heartbeatMs: 1` would otherwise
 * have the client drop and redial its connection every 2 ms.
 */
const MIN_HEARTBEAT_MS = 1_000;

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
}
export interface RecoveryEvent {
  room: string;
  /** false: the server's history no longer reaches back to what this client last saw; reload. */
  recovered: boolean;
  missed: number;
}
export interface DisconnectEvent {
  code: number;
  reason: string;
  advice: CloseAdvice;
  /** null when the client gives up and closes. */
  reconnectInMs: number | null;
}

/** The inbox's unread count changed (list or markRead answer, `inbox` event, new personal notification). */
export interface UnreadChange {
  unread: number;
  /** null before the inbox was first listed or marked. */
  previous: number | null;
}

export interface HeraldClientEvents {
  state: StateChange;
  welcome: Welcome;
  notification: Notification;
  message: ChatMessage;
  presence: PresenceEvent;
  inbox: InboxEvent;
  unread: UnreadChange;
  recovery: RecoveryEvent;
  /** The server took this client out of a room: its refreshed token no longer grants it. */
  revoked: { room: string };
  disconnect: DisconnectEvent;
  error: HeraldError;
}

/**
 * A Herald connection that survives network blips, token expiry and pod restarts:
 * it reconnects following the close-code table, rejoins its rooms with `since`, drops
 * duplicates by `seq`, refreshes its token in band and watches the heartbeat.
 */
export class HeraldClient extends TypedEmitter<HeraldClientEvents> {
  readonly #url: string;
  readonly #options: Required<Omit<HeraldClientOptions, 'reconnect' | 'rooms' | 'WebSocket' | 'httpUrl' | 'fetch'>> & {
    reconnect: ReconnectOptions;
  };
  readonly #WebSocket: WebSocketConstructor;
  readonly #rooms: RoomTracker;
  readonly #joiner: RoomJoiner;
  readonly #pacer = new FramePacer();
  readonly #requests: RequestTracker;
  readonly #refresher: TokenRefresher;
  readonly #stateWaiters = new Set<() => void>();
  /** Aborted by close(): ends the wait for a getToken that has not answered, and its timer. */
  readonly #closing = new AbortController();
  /** The user's inbox over HTTP, with the same token: `list`, `markRead`, `unread`. */
  readonly inbox: InboxClient;

  #state: ConnectionState = 'connecting';
  #socket: WebSocketLike | null = null;
  /** Bumped on every dial so that a stale getToken() or socket cannot act. */
  #generation = 0;
  /** Reconnects since the last connection that stayed up reconnect.stableAfterMs. */
  #attempt = 0;
  /** When the current connection was welcomed; null while there is none. */
  #openedAtMs: number | null = null;
  /** The current connection's heartbeat (clamped), null before its welcome. */
  #heartbeatMs: number | null = null;
  #token: string | null = null;
  /** When getToken returned #token (local clock): the refresher counts its lifetime from there. */
  #tokenReceivedAtMs = 0;
  /** The token a 1008 or 4001 refused; getToken must return another one before we dial again. */
  #rejectedToken: string | null = null;
  #welcome: Welcome | null = null;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #watchdogTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, options: HeraldClientOptions) {
    super();
    if (typeof options?.getToken !== 'function') throw new TypeError('HeraldClient: options.getToken must be a function');
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) {
      throw new TypeError('HeraldClient: no global WebSocket; pass one as options.WebSocket (for example from "ws")');
    }
    this.#url = url;
    this.#WebSocket = WebSocketImpl;
    this.#options = {
      getToken: options.getToken,
      tokenInUrl: options.tokenInUrl ?? false,
      requestTimeoutMs: optionOf(options, 'requestTimeoutMs'),
      connectTimeoutMs: optionOf(options, 'connectTimeoutMs'),
      refreshBeforeExpiryMs: optionOf(options, 'refreshBeforeExpiryMs'),
      dedupeWindow: optionOf(options, 'dedupeWindow'),
      random: options.random ?? Math.random,
      reconnect: reconnectOptionsOf(options.reconnect),
    };
    this.#rooms = new RoomTracker((frame) => (frame.event === 'notification' ? this.emit('notification', frame.data) : this.emit('message', frame.data)), this.#options.dedupeWindow);
    this.#requests = new RequestTracker({
      timeoutMs: this.#options.requestTimeoutMs,
      write: (frame) => this.#sendFrame(frame),
      maxFrameBytes: () => this.#welcome?.maxMessageBytes ?? null,
      pace: (send, urgent) => this.#pacer.schedule(send, urgent),
    });
    this.#joiner = new RoomJoiner(
      {
        rooms: this.#rooms,
        isOpen: () => this.#state === 'open',
        sendJoin: (request, onJoined) => this.#request('join', request, onJoined),
        recovered: (room, joined) => this.emit('recovery', { room, recovered: joined.recovered!, missed: joined.missed ?? 0 }),
        refused: (error) => this.#reportError(error),
        random: () => this.#options.random(),
      },
      // Transient refusals of a join are retried on the reconnect backoff's schedule (rate_limited: at the pacer's pace).
      { timeoutMs: this.#options.requestTimeoutMs, backoff: this.#options.reconnect },
    );
    this.#refresher = new TokenRefresher(
      {
        requestToken: () => requestToken(this.#options.getToken, { option: 'getToken', timeoutMs: this.#options.connectTimeoutMs, event: 'refresh', signal: this.#closing.signal }),
        currentToken: () => this.#token,
        isOpen: () => this.#state === 'open',
        sendRefresh: (token) => this.#request('refresh', { token }),
        refreshed: (token) => {
          this.#token = token;
        },
        onError: (error) => this.#reportError(error),
      },
      this.#options.refreshBeforeExpiryMs,
    );
    for (const room of options.rooms ?? []) {
      if (!isRoomName(room)) throw new TypeError(`HeraldClient: invalid room name ${JSON.stringify(room)}`);
      this.#rooms.add(room);
    }
    // Created before any listener of the app, so `inbox.unread` is current when the app hears
    // of a notification or an `inbox` event.
    this.inbox = new InboxClient(this, {
      wsUrl: url,
      httpUrl: options.httpUrl,
      getToken: options.getToken,
      fetch: options.fetch,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      onUnread: (unread, previous) => this.emit('unread', { unread, previous }),
      onError: (error) => this.#reportError(error),
      closed: this.#closing.signal,
      random: () => this.#options.random(),
    });
    // Not from inside the constructor: the listeners an app attaches right after connect()
    // must see every event of the first attempt, a getToken that throws at once included.
    void Promise.resolve().then(() => this.#dial());
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The latest `welcome`, or null before the first one. */
  get welcome(): Welcome | null {
    return this.#welcome;
  }

  /** The rooms this client rejoins after every reconnect, the personal room included. */
  get rooms(): string[] {
    return this.#rooms.names();
  }

  /** Resolves when the client is open (at once if it is); rejects if it closes first. */
  whenOpen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.#state === 'open') resolve();
        else if (this.#state === 'closed') reject(new HeraldError('closed', 'the client is closed'));
        else return false;
        return true;
      };
      if (check()) return;
      const waiter = (): void => {
        if (check()) this.#stateWaiters.delete(waiter);
      };
      this.#stateWaiters.add(waiter);
    });
  }

  /**
   * Joins `room` and keeps it: it is rejoined with `since` after every reconnect until `leave`.
   * Settles on the server's reply, at once when the room is joined on this connection already.
   * Waits at most requestTimeoutMs, across reconnects and transient refusals (rate_limited,
   * unavailable, internal, no reply: retried with backoff, or for rate_limited as the slowed pace
   * allows), then rejects with the last refusal or
   * `timeout`; the room is still kept and joined once the connection is back. Any other error
   * reply (forbidden, invalid_room, ...) rejects and forgets the room.
   */
  join(room: string): Promise<Joined> {
    if (this.#state === 'closed') return Promise.reject(new HeraldError('closed', 'the client is closed', 'join'));
    if (!isRoomName(room)) {
      return Promise.reject(new HeraldError('invalid_room', `invalid room name ${JSON.stringify(room)}`, 'join'));
    }
    return this.#joiner.join(room);
  }

  /**
   * Leaves `room` and stops rejoining it. Resolves at once when the client is not open, or the
   * room's join was refused and only waits for its retry (the server does not hold it).
   */
  async leave(room: string): Promise<Left> {
    if (!isRoomName(room)) throw new HeraldError('invalid_room', `invalid room name ${JSON.stringify(room)}`, 'leave');
    // As the server answers it: a connection stays in its personal room until it closes.
    const user = this.#welcome?.user;
    if (user !== undefined && room === personalRoom(user)) throw new HeraldError('forbidden', `a connection stays in its personal room ${room}`, 'leave');
    const mayBeJoined = this.#forgetRoom(room);
    if (this.#state !== 'open' || !mayBeJoined) return { room };
    return this.#request('leave', { room });
  }

  /**
   * Sends a chat message; resolves with its `seq` once the server stored it. While the client
   * is reconnecting the message waits (up to requestTimeoutMs) for the connection.
   * Rejects with `disconnected` when the connection drops before the ack: it may or may not
   * have been delivered. A text over MESSAGE_TEXT_MAX_CHARS rejects at once with `bad_request`,
   * as the server would answer it.
   */
  send(room: string, text: string): Promise<Ack> {
    if (typeof text === 'string' && messageTextLength(text) > MESSAGE_TEXT_MAX_CHARS) {
      return Promise.reject(new HeraldError('bad_request', `text is longer than ${MESSAGE_TEXT_MAX_CHARS} characters`, 'message'));
    }
    return this.#request('message', { room, text });
  }

  /** Closes the connection for good (code 1000) and rejects whatever is still pending. */
  close(): void {
    this.#finish(new HeraldError('closed', 'the client was closed'));
  }

  // ---- connection lifecycle ----------------------------------------------------------

  async #dial(): Promise<void> {
    // close() bumps the generation too, so this attempt ends wherever it waits.
    if (this.#isClosed()) return;
    const generation = ++this.#generation;
    // One budget for the whole attempt: a getToken that never answers must not leave the
    // client connecting forever.
    const deadlineMs = Date.now() + this.#options.connectTimeoutMs;
    let token: string;
    try {
      token = await requestToken(this.#options.getToken, { option: 'getToken', timeoutMs: this.#options.connectTimeoutMs, signal: this.#closing.signal });
    } catch (error) {
      if (generation !== this.#generation || this.#state === 'closed') return;
      this.emit('error', error as HeraldError);
      this.#afterClose(GET_TOKEN_FAILED.code, GET_TOKEN_FAILED.reason);
      return;
    }
    if (generation !== this.#generation || this.#state === 'closed') return;
    if (token === this.#rejectedToken) {
      // Contract, section 5: after 1008 / 4001 never retry with the token that was refused.
      this.#finish(new HeraldError('unauthorized', 'the server refused the token and getToken returned it again'));
      return;
    }
    this.#token = token;
    this.#tokenReceivedAtMs = Date.now();
    let socket: WebSocketLike;
    try {
      socket = this.#options.tokenInUrl
        ? new this.#WebSocket(withToken(this.#url, token), [PROTOCOL_VERSION])
        : new this.#WebSocket(this.#url, [PROTOCOL_VERSION, BEARER_PROTOCOL_PREFIX + token]);
    } catch (error) {
      // The token was checked above, so this is the URL: it cannot get better by retrying.
      this.#finish(new HeraldError('bad_request', `cannot open ${this.#url}: ${describe(error)}`, undefined, { cause: error }));
      return;
    }
    this.#socket = socket;
    socket.onmessage = (event: { data: unknown }) => this.#onFrame(socket, event.data);
    socket.onclose = (event: { code: number; reason: string }) => {
      if (socket !== this.#socket) return;
      this.#dropSocket();
      this.#afterClose(event.code, event.reason);
    };
    // The close event that always follows an error carries what we act on.
    socket.onerror = () => undefined;
    this.#connectTimer = setTimeout(() => {
      if (socket !== this.#socket) return;
      this.#abandonSocket();
      this.#afterClose(CLIENT_TIMEOUT_CLOSE.code, CLIENT_TIMEOUT_CLOSE.reason);
    }, timerDelayMs(deadlineMs - Date.now()));
  }

  #afterClose(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    // Only a connection that lasted starts the backoff over: one that is welcomed and then
    // closed at once, again and again, must not be redialled at once forever.
    if (this.#openedAtMs !== null && Date.now() - this.#openedAtMs >= this.#options.reconnect.stableAfterMs) this.#attempt = 0;
    this.#openedAtMs = null;
    const decision = decideReconnect(code, reason, this.#attempt, this.#options.reconnect, this.#options.random);
    if (decision.action === 'stop') {
      this.emit('disconnect', { code, reason, advice: decision.advice, reconnectInMs: null });
      if (decision.advice !== 'stop') {
        this.#finish(new HeraldError('unavailable', `gave up after ${this.#attempt} reconnect attempts (last close ${code}${reason ? ` ${reason}` : ''})`));
      } else if (code === 1000) {
        this.#finish(undefined);
      } else {
        // The one other close closeAdvice says to stop at: 1008 origin_not_allowed. No token
        // would help, so it is not `unauthorized` (which an app may answer by signing the user
        // in again).
        this.#finish(
          new HeraldError(
            CloseCode.OriginNotAllowed.reason,
            `refused by the server: ${code} ${reason} (the Origin this client connects from, a page's, is not in Herald's ALLOWED_ORIGINS; a new token would not help)`,
          ),
        );
      }
      return;
    }
    if (decision.needsNewToken) this.#rejectedToken = this.#token;
    this.emit('disconnect', { code, reason, advice: decision.advice, reconnectInMs: decision.delayMs });
    // A disconnect listener may have closed the client ("give up after the first drop").
    if (this.#isClosed()) return;
    this.#attempt += 1;
    this.#setState('reconnecting');
    // So may a state listener: no reconnect timer must outlive close().
    if (this.#isClosed()) return;
    this.#reconnectTimer = setTimeout(() => void this.#dial(), decision.delayMs);
  }

  /** Ends the client: no more reconnects; every pending promise rejects. */
  #finish(error: HeraldError | undefined): void {
    if (this.#state === 'closed') return;
    const reason = error ?? new HeraldError('closed', 'the connection was closed');
    // Before the socket goes: what was still pending fails as closed, not as disconnected.
    this.#requests.rejectAll(reason.message);
    const socket = this.#socket;
    this.#dropSocket();
    socket?.close(1000, 'normal');
    this.#generation += 1;
    clearTimeout(this.#reconnectTimer);
    this.#closing.abort();
    this.#joiner.close(reason);
    // Why first, then the state: a listener that reacts to `closed` already knows the reason.
    if (error && error.code !== 'closed') this.emit('error', error);
    this.#setState('closed');
  }

  /**
   * Tells the app of an error found on its own (a refused join, a failed refresh or inbox
   * resync), unless the client is closed: a reply or answer that was on its way when the app
   * called close() reports nothing after `closed`.
   */
  #reportError(error: HeraldError): void {
    if (this.#state !== 'closed') this.emit('error', error);
  }

  /** Detaches from the current socket and stops its timers, without closing it. */
  #dropSocket(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#heartbeatMs = null;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#watchdogTimer);
    this.#refresher.cancel();
    this.#pacer.cancel();
    this.#joiner.disconnected();
    this.#rooms.disconnected();
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      // `ws` emits 'error' when a socket is closed before its handshake finished, and an
      // EventEmitter 'error' without a listener throws: keep a listener that ignores it.
      socket.onerror = () => undefined;
    }
    this.#requests.rejectSent();
  }

  /**
   * Gives up on a socket that went silent or never greeted. We do not wait for its close
   * event: on a dead network that can take minutes.
   */
  #abandonSocket(): void {
    const socket = this.#socket;
    this.#dropSocket();
    socket?.close(CLIENT_TIMEOUT_CLOSE.code, CLIENT_TIMEOUT_CLOSE.reason);
  }

  /**
   * Stops following `room`: not rejoined, no join of it retried, its pending join() calls
   * rejected. Returns false when the server certainly does not hold it (RoomJoiner.forget).
   */
  #forgetRoom(room: string): boolean {
    this.#rooms.forget(room);
    return this.#joiner.forget(room);
  }

  /** A method, not a comparison, so the compiler does not keep a narrowing across awaits and callbacks. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(state: ConnectionState): void {
    const previous = this.#state;
    if (previous === state) return;
    if (!TRANSITIONS[previous].includes(state)) throw new Error(`HeraldClient: invalid transition ${previous} -> ${state}`);
    this.#state = state;
    this.emit('state', { state, previous });
    for (const waiter of [...this.#stateWaiters]) waiter();
  }

  // ---- frames ------------------------------------------------------------------------

  #onFrame(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.#socket) return;
    this.#armWatchdog();
    const reading = readServerFrame(raw);
    if (!reading.ok) return this.emit('error', new HeraldError('bad_request', reading.problem));
    const { frame, problem } = reading;
    // What the server's rate limit said of our requests tunes the pacer: see FramePacer.
    const limited = frame.event === 'error' && (frame.data as { code?: unknown } | undefined)?.code === 'rate_limited';
    if (frame.id !== undefined || limited) this.#pacer.replied(limited);
    // A reply settles its request even when it cannot be read: the request then rejects with
    // bad_request, and whoever made it (the app, the joiner, the refresher) hears of it once.
    if (frame.id !== undefined && this.#requests.settle(frame, problem)) return;
    if (problem !== null) return this.emit('error', new HeraldError('bad_request', `malformed ${frame.event} frame from the server: ${problem}`));
    // Our own pong to a heartbeat, refused: the pacer has slowed down above, and there is nothing
    // for the app to do about it (the server only counts the connection alive by it).
    if (limited && (frame.data as { event?: unknown } | undefined)?.event === 'pong') return;
    switch (frame.event) {
      case 'welcome':
        return this.#onWelcome(frame.data);
      case 'ping':
        return this.#sendFrame(JSON.stringify({ event: 'pong' }));
      case 'notification':
      case 'message':
        return this.#rooms.receive(frame);
      case 'presence':
        return this.emit('presence', frame.data);
      case 'recovery':
        // The server could not prove continuity: resume from its current seq, and let the app
        // reload. Not about a room this client is not in, nor one whose rejoin will answer for it.
        if (!this.#rooms.restartAt(frame.data.room, frame.data.seq ?? null)) return;
        return this.emit('recovery', { room: frame.data.room, recovered: false, missed: 0 });
      case 'left':
        // With an id it is the reply to a leave of ours that timed out (a pending one settled
        // above): the app may have joined the room again since, so it says nothing now.
        if (frame.id !== undefined) return;
        // Unprompted: the refreshed token no longer grants the room, so it is not rejoined either.
        if (!this.#rooms.has(frame.data.room)) return;
        this.#forgetRoom(frame.data.room);
        return this.emit('revoked', { room: frame.data.room });
      case 'inbox':
        return this.emit('inbox', frame.data);
      case 'error':
        return this.emit('error', new HeraldError(frame.data.code as HeraldErrorCode, frame.data.message ?? frame.data.code, frame.data.event));
      default:
        // Replies whose request already timed out, and events newer than this client: ignore.
        return;
    }
  }

  #onWelcome(welcome: Welcome): void {
    if (this.#state === 'open') {
      // One welcome per connection (section 1): another would start every join over.
      this.emit('error', new HeraldError('bad_request', 'a second welcome on the same connection'));
      return;
    }
    clearTimeout(this.#connectTimer);
    const previousUser = this.#welcome?.user;
    if (previousUser !== undefined && previousUser !== welcome.user) this.#rooms.forget(personalRoom(previousUser));
    this.#welcome = welcome;
    this.#openedAtMs = Date.now();
    this.#rejectedToken = null;
    this.#heartbeatMs = watchdogHeartbeatMs(welcome.heartbeatMs);
    this.#pacer.reset();
    this.#armWatchdog();
    this.#refresher.schedule(welcome.expiresAt ?? null, this.#token, this.#tokenReceivedAtMs);
    // The server put us in the personal room already; joining it again, with `since` after a
    // reconnect, replays what was published to it while we were away.
    this.#rooms.add(personalRoom(welcome.user));
    this.#setState('open');
    // A state listener may have closed the client: a closed client says nothing more.
    if (this.#isClosed()) return;
    this.emit('welcome', welcome);
    // Nor does it join or send what waited, when a welcome listener closed it.
    if (this.#isClosed()) return;
    // Joins first, paced, then what waited for the connection: a message waiting for a room is
    // sent after that room's join.
    this.#joiner.connected(personalRoom(welcome.user));
    this.#requests.flushUnsent();
  }

  #request<E extends RequestEvent>(event: E, data: ClientEvents[E], onReply?: (reply: ReplyTypes[E]) => void): Promise<ReplyTypes[E]> {
    if (this.#state === 'closed') return Promise.reject(new HeraldError('closed', 'the client is closed', event));
    return this.#requests.request(event, data, this.#state === 'open', onReply);
  }

  #sendFrame(frame: string): void {
    this.#socket?.send(frame);
  }

  // ---- liveness ----------------------------------------------------------------------

  /** Contract, section 3: nothing received for 2 x heartbeatMs means the connection is dead. */
  #armWatchdog(): void {
    clearTimeout(this.#watchdogTimer);
    // Before the welcome the connect timeout is the only clock.
    if (this.#heartbeatMs === null || this.#socket === null) return;
    this.#watchdogTimer = setTimeout(() => {
      this.#abandonSocket();
      this.#afterClose(CLIENT_TIMEOUT_CLOSE.code, CLIENT_TIMEOUT_CLOSE.reason);
    }, timerDelayMs(2 * this.#heartbeatMs));
  }
}

/**
 * The heartbeat the watchdog goes by: at least MIN_HEARTBEAT_MS; null (no watchdog) for a
 * value that is no duration, since a wrong guess would drop a healthy connection.
 */
function watchdogHeartbeatMs(heartbeatMs: number): number | null {
  if (!Number.isFinite(heartbeatMs) || heartbeatMs <= 0) return null;
  return Math.max(MIN_HEARTBEAT_MS, heartbeatMs);
}

/** Opens a reconnecting Herald connection. `url` is the WebSocket URL, e.g. `wss://host/ws`. */
export function connect(url: string, options: HeraldClientOptions): HeraldClient {
  return new HeraldClient(url, options);
}

function withToken(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('token', token);
  return parsed.toString();
}
