import { HeraldError } from './herald.errors.ts';
import type { Ack, ClientEvents, ErrorData, Joined, Left, Refreshed, ServerFrame } from './protocol.ts';

/** The reply each client request waits for. */
export interface ReplyTypes {
  join: Joined;
  leave: Left;
  message: Ack;
  refresh: Refreshed;
}
export type RequestEvent = keyof ReplyTypes;

interface PendingRequest {
  frame: string;
  event: RequestEvent;
  sent: boolean;
  resolve(data: unknown): void;
  reject(error: HeraldError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests waiting for the reply that echoes their `id`: each one sent at once when the
 * connection is open or queued until the next welcome, and settled by its reply, its timeout,
 * the connection dropping after it was sent, or the client closing.
 */
export class RequestTracker {
  readonly #pending = new Map<string, PendingRequest>();
  #nextId = 0;

  constructor(
    private readonly timeoutMs: number,
    /** Writes a frame on the current socket. */
    private readonly write: (frame: string) => void,
  ) {}

  /** Sends now when `open`, else when flushUnsent runs on the next welcome. */
  request<E extends RequestEvent>(event: E, data: ClientEvents[E], open: boolean): Promise<ReplyTypes[E]> {
    const id = `c${++this.#nextId}`;
    const frame = JSON.stringify({ event, data, id });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new HeraldError('timeout', `no reply to ${event} within ${this.timeoutMs} ms`, event));
      }, this.timeoutMs);
      this.#pending.set(id, { frame, event, sent: open, resolve: resolve as (data: unknown) => void, reject, timer });
      if (open) this.write(frame);
    });
  }

  /** Settles the request a reply answers; false when no request is waiting for it. */
  settle(frame: ServerFrame): boolean {
    const id = String(frame.id);
    const request = this.#pending.get(id);
    if (!request) return false;
    this.#pending.delete(id);
    clearTimeout(request.timer);
    if (frame.event === 'error') {
      const error: ErrorData = frame.data;
      request.reject(new HeraldError(error.code, error.message, error.event ?? request.event));
    } else {
      request.resolve(frame.data);
    }
    return true;
  }

  /** Sends what waited for the connection (called once welcomed). */
  flushUnsent(): void {
    for (const request of this.#pending.values()) {
      if (request.sent) continue;
      request.sent = true;
      this.write(request.frame);
    }
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
}
