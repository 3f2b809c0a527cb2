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
  private readonly waiting = new Set<() => void>();

  constructor(private readonly max: number) {}

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.size;
  }

  /** Resolves with the slot's release (call it exactly once), or rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.inUse < this.max) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const give = () => {
        signal.removeEventListener('abort', abandon);
        resolve(this.releaser());
      };
      const abandon = () => {
        this.waiting.delete(give);
        reject(signal.reason);
      };
      signal.addEventListener('abort', abandon, { once: true });
      this.waiting.add(give);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the longest waiter, if any.
      const next = this.waiting.values().next();
      if (next.done) {
        this.inUse--;
        return;
      }
      this.waiting.delete(next.value);
      next.value();
    };
  }
}
