import { backoffDelayMs, type BackoffOptions } from './backoff.policy.ts';
import { HeraldError, type HeraldErrorCode } from './herald.errors.ts';
import type { JoinRequest, Joined } from './protocol.ts';
import type { RoomTracker } from './room.tracker.ts';

/**
 * Refusals that say nothing about the room itself (the server was busy, its broker unreachable,
 * or no reply came): the room is kept and its join tried again with backoff (after rate_limited,
 * as soon as the client's pace allows: see #retryLater). Any other error
 * reply (forbidden, invalid_room, bad_request, ...) is the server's answer about the room, and
 * forgets it.
 */
const TRANSIENT_JOIN_ERRORS: ReadonlySet<HeraldErrorCode> = new Set(['rate_limited', 'unavailable', 'internal', 'timeout']);

/** What the joiner needs from its client. */
export interface RoomJoinerHost {
  readonly rooms: RoomTracker;
  isOpen(): boolean;
  /**
   * Sends `join` on the current connection (paced with the client's other requests); `onJoined`
   * runs as the reply is read, before the replay that follows it.
   */
  sendJoin(request: JoinRequest, onJoined: (joined: Joined) => void): Promise<Joined>;
  /** A join reply that carries `recovered` was applied: the client emits `recovery`. */
  recovered(room: string, joined: Joined): void;
  /** The server refused the room for good; it is forgotten. */
  refused(error: HeraldError): void;
  random(): number;
}

interface JoinWaiter {
  resolve(joined: Joined): void;
  reject(error: HeraldError): void;
}

/**
 * Joins the rooms a client remembers, on every connection: once each (a join() of a room
 * already joined is answered from what the client knows, without a frame), again after a
 * transient refusal (with backoff, or as the pace allows after rate_limited), and settles the
 * app's join() calls.
 */
export class RoomJoiner {
  readonly #host: RoomJoinerHost;
  readonly #timeoutMs: number;
  readonly #backoff: BackoffOptions;
  readonly #waiters = new Map<string, Set<JoinWaiter>>();
  /** The rooms joined, or being joined, on the current connection. */
  readonly #joining = new Map<string, 'joining' | 'joined'>();
  /** Rooms waiting to try their join again, with how many transient refusals they met. */
  /** Rooms refused for now: `backoffs` counts the refusals that waited a backoff (not rate_limited). */
  readonly #retries = new Map<string, { backoffs: number; timer: ReturnType<typeof setTimeout> | undefined; last: HeraldError }>();
  /** Bumped when the connection drops, so a reply or a retry meant for the old one does nothing. */
  #connection = 0;

  constructor(host: RoomJoinerHost, options: { timeoutMs: number; backoff: BackoffOptions }) {
    this.#host = host;
    this.#timeoutMs = options.timeoutMs;
    this.#backoff = options.backoff;
  }

  /**
   * The app's join(): settles on the server's reply, or at once when the room is joined on this
   * connection already. Waits across reconnects and transient refusals for up to the timeout,
   * then rejects with the last transient refusal (or `timeout`), the room still remembered.
   */
  join(room: string): Promise<Joined> {
    this.#host.rooms.add(room);
    if (this.#joining.get(room) === 'joined') return Promise.resolve({ room, seq: this.#host.rooms.sinceOf(room) });
    const joined = new Promise<Joined>((resolve, reject) => {
      let waiters = this.#waiters.get(room);
      if (!waiters) this.#waiters.set(room, (waiters = new Set()));
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.#waiters.get(room) === waiters) this.#waiters.delete(room);
        reject(this.#retries.get(room)?.last ?? new HeraldError('timeout', `no reply to join ${room} within ${this.#timeoutMs} ms`, 'join'));
      }, this.#timeoutMs);
      const waiter: JoinWaiter = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      waiters.add(waiter);
    });
    if (this.#host.isOpen() && !this.#joining.has(room) && !this.#retries.has(room)) this.#send(room);
    return joined;
  }

  /**
   * The connection was welcomed: joins every remembered room not joined or joining yet,
   * `serverJoined` first. The server put the connection in that room (the personal one) at
   * welcome, and its live frames are held until this join's reply: it must not wait behind the
   * paced joins of up to a hundred other rooms.
   */
  connected(serverJoined?: string): void {
    const remembered = this.#host.rooms.names();
    const rooms = serverJoined !== undefined && remembered.includes(serverJoined) ? [serverJoined, ...remembered.filter((room) => room !== serverJoined)] : remembered;
    for (const room of rooms) if (!this.#joining.has(room)) this.#send(room);
  }

  /** The connection dropped: nothing is joined any more; the next welcome joins everything again. */
  disconnected(): void {
    this.#connection += 1;
    this.#joining.clear();
    for (const retry of this.#retries.values()) clearTimeout(retry.timer);
    this.#retries.clear();
  }

  /**
   * The app left `room`: no more joins of it, and its pending join() calls reject. Returns
   * false when the server certainly does not hold it: its last join was refused and it only
   * waits for its retry, so it needs no `leave`. A join that timed out was not refused: the
   * server may have joined the room and answered too late.
   */
  forget(room: string): boolean {
    const retry = this.#retries.get(room);
    const mayBeJoined = this.#joining.has(room) || retry === undefined || retry.last.code === 'timeout';
    this.#joining.delete(room);
    clearTimeout(this.#retries.get(room)?.timer);
    this.#retries.delete(room);
    this.#settle(room, undefined, new HeraldError('closed', `left ${room} before it was joined`, 'join'));
    return mayBeJoined;
  }

  /** The client closed: every pending join() rejects with `error`. */
  close(error: HeraldError): void {
    this.disconnected();
    for (const room of [...this.#waiters.keys()]) this.#settle(room, undefined, error);
  }

  #send(room: string): void {
    const connection = this.#connection;
    this.#joining.set(room, 'joining');
    const since = this.#host.rooms.sinceOf(room);
    // What the reply says about the room (its position, the replay that follows, and so the
    // `recovery` event, which must reach the app before the replayed frames) is applied as it is
    // read. The rest runs a microtask later, maybe after `connection` dropped: the room still
    // counts as joined, the per-connection state not.
    const onReply = (joined: Joined) => {
      this.#host.rooms.joined(room, joined);
      if (joined.recovered !== undefined && this.#host.rooms.has(room)) this.#host.recovered(room, joined);
    };
    this.#host.sendJoin(since === null ? { room } : { room, since }, onReply).then(
      (joined) => {
        if (!this.#host.rooms.has(room)) return;
        if (connection === this.#connection) {
          this.#joining.set(room, 'joined');
          this.#retries.delete(room);
        }
        this.#settle(room, joined, undefined);
      },
      (error: HeraldError) => {
        if (!this.#host.rooms.has(room)) return;
        // The connection dropped or the client closed: the next welcome joins it again, or nothing will.
        if (error.code === 'disconnected' || error.code === 'closed') return;
        if (TRANSIENT_JOIN_ERRORS.has(error.code)) {
          if (connection !== this.#connection) return;
          this.#joining.delete(room);
          this.#host.rooms.joinFailed(room);
          return this.#retryLater(room, error);
        }
        if (connection === this.#connection) this.#joining.delete(room);
        this.#host.rooms.forget(room);
        this.#settle(room, undefined, error);
        this.#host.refused(error);
      },
    );
  }

  #retryLater(room: string, error: HeraldError): void {
    // A rate_limited join goes back to the pacer at once: the reply has paused and slowed it, which
    // is all the waiting the server's limit asks for. A backoff on top, growing with each refusal
    // while the pacer learned a low limit, held 12 joins under RATE_LIMIT_PER_S=2 for 8.7 s. Nor
    // do those refusals grow the backoff of a later `unavailable`.
    const limited = error.code === 'rate_limited';
    const backoffs = (this.#retries.get(room)?.backoffs ?? 0) + (limited ? 0 : 1);
    const retry = { backoffs, last: error, timer: undefined as ReturnType<typeof setTimeout> | undefined };
    this.#retries.set(room, retry);
    const delayMs = limited ? 0 : backoffDelayMs(backoffs - 1, this.#backoff, () => this.#host.random());
    retry.timer = setTimeout(() => {
      if (this.#retries.get(room) !== retry) return;
      retry.timer = undefined;
      // Still in #retries until the reply comes, so the backoff keeps growing.
      if (this.#host.isOpen() && this.#host.rooms.has(room)) this.#send(room);
    }, delayMs);
  }

  #settle(room: string, joined: Joined | undefined, error: HeraldError | undefined): void {
    const waiters = this.#waiters.get(room);
    if (!waiters) return;
    this.#waiters.delete(room);
    for (const waiter of waiters) {
      if (joined) waiter.resolve(joined);
      else waiter.reject(error!);
    }
  }
}
