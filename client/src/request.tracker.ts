import { HeraldError } from './herald.errors.ts';
import type { Ack, ClientEvents, ErrorData, Joined, Left, Refreshed, ServerEventName, ServerFrame } from './protocol.ts';

/** The reply each client request waits for. */
export interface ReplyTypes {
  join: Joined;
  leave: Left;
  message: Ack;
  refresh: Refreshed;
}
export type RequestEvent = keyof ReplyTypes;

/** The event of the direct reply to each request (contract, section 2). */
const REPLY_EVENT: Record<RequestEvent, ServerEventName> = { join: 'joined', leave: 'left', message: 'ack', refresh: 'refreshed' };

/** The events that answer requests: their direct replies, and `error`. */
const REPLY_EVENTS: ReadonlySet<string> = new Set<string>([...Object.values(REPLY_EVENT), 'error']);

interface PendingRequest {
  frame: string;
  event: RequestEvent;
  /** Goes ahead of what waits in the pacer (a token refresh: expiry does not wait its turn). */
  urgent: boolean;
  sent: boolean;
  /** Runs as the reply is read, before the next frame is: see `request`. */
  onReply: ((data: unknown) => void) | undefined;
  resolve(data: unknown): void;
  reject(error: HeraldError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface RequestTrackerOptions {
  timeoutMs: number;
  /** Writes a frame on the current socket. */
  write(frame: string): void;
  /**
   * The connection's welcome.maxMessageBytes (null before a welcome). The server closes the
   * whole connection with 1009 on a larger frame, failing every other request with it.
   */
  maxFrameBytes(): number | null;
  /**
   * Runs `send` when the client's outgoing budget allows (FramePacer.schedule); `send` returns
   * false when it wrote nothing (its request was settled meanwhile), which costs no budget.
   */
  pace(send: () => boolean, urgent: boolean): void;
}

/**
 * Requests waiting for the reply that echoes their `id`: each one sent (paced) at once when the
 * connection is open or queued until the next welcome, and settled by its reply, its timeout,
 * the connection dropping after it was sent, or the client closing.
 */
export class RequestTracker {
  readonly #pending = new Map<string, PendingRequest>();
  readonly #options: RequestTrackerOptions;
  #nextId = 0;

  constructor(options: RequestTrackerOptions) {
    this.#options = options;
  }

  /**
   * Sends now when `open`, else when flushUnsent runs on the next welcome. `onReply` runs
   * synchronously with the reply, where the promise settles a turn later: the frames that follow
   * a reply (a join's replay) may be read before that turn, and some must be read in its light.
   */
  request<E extends RequestEvent>(event: E, data: ClientEvents[E], open: boolean, onReply?: (reply: ReplyTypes[E]) => void): Promise<ReplyTypes[E]> {
    const id = `c${++this.#nextId}`;
    const frame = JSON.stringify({ event, data, id });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new HeraldError('timeout', `no reply to ${event} within ${this.#options.timeoutMs} ms`, event));
      }, this.#options.timeoutMs);
      this.#pending.set(id, {
        frame,
        event,
        urgent: event === 'refresh',
        sent: false,
        onReply: onReply as ((data: unknown) => void) | undefined,
        resolve: resolve as (data: unknown) => void,
        reject,
        timer,
      });
      if (open) this.#send(id);
    });
  }

  /**
   * Settles the request a reply answers; false when no request is waiting for it. A reply that
   * cannot be read (no data, the wrong event) rejects its request with `bad_request`.
   */
  settle(frame: ServerFrame, problem: string | null): boolean {
    // Only a reply settles a request: a notification that happens to carry a pending request's
    // id is a notification, delivered as such, and the request still waits for its reply.
    if (!REPLY_EVENTS.has(frame.event)) return false;
    const id = String(frame.id);
    const request = this.#pending.get(id);
    if (!request) return false;
    this.#pending.delete(id);
    clearTimeout(request.timer);
    if (problem !== null) {
      request.reject(new HeraldError('bad_request', `unreadable reply to ${request.event} (${frame.event}): ${problem}`, request.event));
    } else if (frame.event === 'error') {
      const error = frame.data as ErrorData;
      request.reject(new HeraldError(error.code, error.message ?? error.code, error.event ?? request.event));
    } else if (frame.event !== REPLY_EVENT[request.event]) {
      request.reject(new HeraldError('bad_request', `unreadable reply to ${request.event}: ${frame.event} instead of ${REPLY_EVENT[request.event]}`, request.event));
    } else {
      request.onReply?.(frame.data);
      request.resolve(frame.data);
    }
    return true;
  }

  /** Sends what waited for the connection (called once welcomed). */
  flushUnsent(): void {
    for (const [id, request] of this.#pending) if (!request.sent) this.#send(id);
  }

  /** The connection dropped: what was sent on it may or may not have been done, so it fails. */
  rejectSent(): void {
    for (const [id, request] of this.#pending) {
      if (!request.sent) continue;
      this.#pending.delete(id);
      clearTimeout(request.timer);
      request.reject(new HeraldError('disconnected', 'the connection dropped before the reply', request.event));
    }
  }

  /** The client closed: everything still waiting fails with `message`. */
  rejectAll(message: string): void {
    for (const [id, request] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(request.timer);
      request.reject(new HeraldError('closed', message, request.event));
    }
  }

  /**
   * Hands the request to the pacer. It counts as sent from here: if the connection drops
   * before the pacer wrote it, it fails with `disconnected`, as the docs promise for a send
   * whose connection drops before the ack.
   */
  #send(id: string): void {
    const request = this.#pending.get(id)!;
    request.sent = true;
    this.#options.pace(() => {
      // Timed out or rejected while waiting for its turn: nothing to send any more.
      if (this.#pending.get(id) !== request) return false;
      if (this.#tooBig(request.frame)) {
        this.#pending.delete(id);
        clearTimeout(request.timer);
        request.reject(new HeraldError('bad_request', `the ${request.event} frame is larger than the server's maxMessageBytes`, request.event));
        return false;
      }
      this.#options.write(request.frame);
      return true;
    }, request.urgent);
  }

  #tooBig(frame: string): boolean {
    const maxBytes = this.#options.maxFrameBytes();
    if (maxBytes === null || !Number.isFinite(maxBytes)) return false;
    // A UTF-16 unit is at most 3 UTF-8 bytes: most frames need no encoding to know they fit.
    if (frame.length * 3 <= maxBytes) return false;
    return new TextEncoder().encode(frame).length > maxBytes;
  }
}
