import { Logger } from '@nestjs/common';
import { RoomBurstLog } from './room-burst.log';

/** Already fulfilled: `acquire` of a subscribed key, and what a key's first operation waits for. */
const FULFILLED: Promise<void> = Promise.resolve();

/** What is subscribed on a key's first holder and unsubscribed after its last. */
export interface SubscriptionTarget {
  subscribe(key: string): Promise<unknown>;
  unsubscribe(key: string): Promise<unknown>;
  /** Subscribes in this turn when it can (see Broker.subscribeNow); false: use `subscribe`. */
  subscribeNow?(key: string): boolean;
}

/**
 * Reference-counts this pod's interest in each key (a room, for the hub's Broker; a channel
 * several personal rooms share, for RedisBroker's connection), so the target is subscribed
 * exactly while the key has at least one holder. Operations on one key run in order, so a
 * release racing an acquire never unsubscribes a key someone just took.
 */
export class RefCountedSubscriptions {
  /** One line per burst: while Redis is frozen, every key released fails to unsubscribe. */
  private readonly unsubscribeFailures = new RoomBurstLog(new Logger(RefCountedSubscriptions.name), 'Unsubscribe failed');
  /**
   * Per key, in one small integer: holders x 2, plus 1 while the target is subscribed. One
   * map entry per key rather than one in a holders map and one in a subscribed set: every
   * connection holds its personal room, so at tens of thousands of connections it is megabytes.
   */
  private readonly keys = new Map<string, number>();
  /** Keys with at least one holder. */
  private held = 0;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly target: SubscriptionTarget) {}

  /** Resolves once the target delivers the key here; rejects when it cannot (the hold is kept: release it). */
  acquire(key: string): Promise<void> {
    // Joins of a key already in use here (a user's second tab, a shared public room) skip the queue.
    if (this.holdSubscribed(key)) return FULFILLED;
    this.hold(key);
    return this.enqueue(key, async () => {
      if (this.isSubscribed(key) || this.holdersOf(key) === 0) return;
      await this.target.subscribe(key);
      this.setSubscribed(key, true);
    });
  }

  /**
   * `acquire` in this turn, when the key needs nothing queued: it is subscribed already, or the
   * target subscribes it at once (SubscriptionTarget.subscribeNow). False, having changed
   * nothing, when the caller must `acquire`.
   */
  acquireNow(key: string): boolean {
    if (this.holdSubscribed(key)) return true;
    // A key with an entry or a queue has a subscribe or unsubscribe under way.
    if (this.keys.has(key) || this.queues.has(key) || this.target.subscribeNow?.(key) !== true) return false;
    this.setSubscribed(key, true);
    this.hold(key);
    return true;
  }

  /** Holds a key that is subscribed with nothing queued for it; false, changing nothing, otherwise. */
  private holdSubscribed(key: string): boolean {
    if (!this.isSubscribed(key) || this.queues.has(key)) return false;
    this.hold(key);
    return true;
  }

  /** One more holder of the key. */
  private hold(key: string): void {
    const state = this.keys.get(key) ?? 0;
    if (state < 2) this.held++;
    this.keys.set(key, state + 2);
  }

  release(key: string): void {
    const state = this.keys.get(key) ?? 0;
    if (state >= 4) {
      this.set(key, state - 2);
      return;
    }
    if (state >= 2) {
      this.held--;
      this.set(key, state - 2);
    }
    this.enqueue(key, async () => {
      if (this.holdersOf(key) > 0 || !this.isSubscribed(key)) return;
      this.setSubscribed(key, false);
      await this.target.unsubscribe(key);
    }).catch((error: unknown) =>
      // The target forgets subscriptions it cannot reach; nothing is left to undo here.
      this.unsubscribeFailures.add(key, String(error)),
    );
  }

  /** Keys with at least one holder. */
  get size(): number {
    return this.held;
  }

  /**
   * Forgets every key, without unsubscribing: for a target that is closing anyway. Resolves once
   * the calls to the target under way have ended, with the unsubscribes that failed logged and no
   * timer left: one waiting on a silent Redis fails only at its deadline or when the connection
   * closes, after this is called, and its line waited for a timer the exiting pod never ran.
   */
  async close(): Promise<void> {
    this.keys.clear();
    this.held = 0;
    await Promise.allSettled(this.queues.values());
    this.unsubscribeFailures.flush();
  }

  private holdersOf(key: string): number {
    return (this.keys.get(key) ?? 0) >> 1;
  }

  private isSubscribed(key: string): boolean {
    return ((this.keys.get(key) ?? 0) & 1) === 1;
  }

  private setSubscribed(key: string, subscribed: boolean): void {
    const state = this.keys.get(key) ?? 0;
    this.set(key, subscribed ? state | 1 : state & ~1);
  }

  /** A key neither held nor subscribed has no entry. */
  private set(key: string, state: number): void {
    if (state === 0) this.keys.delete(key);
    else this.keys.set(key, state);
  }

  private enqueue(key: string, operation: () => Promise<void>): Promise<void> {
    // After the previous operation on the key, whether it succeeded or failed.
    const previous = this.queues.get(key) ?? FULFILLED;
    const next = previous.then(operation, operation);
    this.queues.set(key, next);
    const forget = () => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    };
    next.then(forget, forget);
    return next;
  }
}
