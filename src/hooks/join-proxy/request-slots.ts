import { timeoutError } from '../hook-request';

/**
 * At most `max` requests at a time; the rest wait in arrival order. A wait ends with the caller's
 * signal too (its timeout, or shutdown), rejecting with the signal's reason, so time spent
 * waiting counts against the same deadline as the request itself.
 *
 * Why: without it every join the proxy decides started its own request and, with it, its own
 * connection. A burst of 4,000 such joins on one pod opened 3,800 sockets to the backend, held
 * the event loop seconds, and every join answered `unavailable` after 8 s instead of within the
 * timeout, while other rooms' deliveries waited too.
 */
export class RequestSlots {
  private inUse = 0;
  /** Waiters in arrival order (a Set keeps it, and lets a timed-out waiter leave in O(1)). */
  private readonly waiting = new Set<Waiter>();

  constructor(
    private readonly max: number,
    /**
     * A waiter whose deadline is closer than this when a slot frees is not given it: it answers
     * as timed out instead. Waiters behind requests that hang time out with them, not a moment
     * later with a request sent to the backend only to be aborted (the joins of one burst start
     * their timeouts a few ms apart, more on a loaded machine).
     */
    private readonly minLeftMs = 0,
  ) {}

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * Resolves with the slot's release (call it exactly once), or rejects when `signal` aborts
   * first, or with a TimeoutError when a slot frees under `minLeftMs` before `deadlineMs`.
   */
  acquire(signal: AbortSignal, deadlineMs = Infinity): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.inUse < this.max) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const abandon = () => {
        this.waiting.delete(waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        deadlineMs,
        give: () => {
          signal.removeEventListener('abort', abandon);
          resolve(this.releaser());
        },
        expire: () => {
          signal.removeEventListener('abort', abandon);
          reject(timeoutError());
        },
      };
      signal.addEventListener('abort', abandon, { once: true });
      this.waiting.add(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the longest waiter with time left, if any.
      const now = Date.now();
      for (const waiter of this.waiting) {
        this.waiting.delete(waiter);
        if (waiter.deadlineMs - now < this.minLeftMs) {
          waiter.expire();
          continue;
        }
        waiter.give();
        return;
      }
      this.inUse--;
    };
  }
}

interface Waiter {
  readonly deadlineMs: number;
  give(): void;
  expire(): void;
}
