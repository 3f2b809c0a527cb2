import { Logger } from '@nestjs/common';
import { Broker } from '../broker/broker';

/** Already fulfilled: `acquire` of a subscribed room, and what a room's first operation waits for. */
const FULFILLED: Promise<void> = Promise.resolve();

/**
 * Reference-counts this pod's interest in each room, so the broker is subscribed exactly while
 * at least one local connection is in (or joining) the room. Operations on one room run in
 * order, so a leave racing a join never unsubscribes a room someone just entered.
 */
export class RoomSubscriptions {
  private readonly logger = new Logger(RoomSubscriptions.name);
  /**
   * Per room, in one small integer: holders x 2, plus 1 while the broker is subscribed. One
   * map entry per room rather than one in a holders map and one in a subscribed set: every
   * connection holds its personal room, so at tens of thousands of connections it is megabytes.
   */
  private readonly rooms = new Map<string, number>();
  /** Rooms with at least one holder. */
  private held = 0;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly broker: Broker) {}

  /** Resolves once the broker delivers the room here; rejects when it cannot (the hold is kept: release it). */
  acquire(room: string): Promise<void> {
    const state = this.rooms.get(room) ?? 0;
    if (state < 2) this.held++;
    this.rooms.set(room, state + 2);
    // Subscribed with nothing queued: the queued step would find nothing to do. Joins of a
    // room already in use here (a user's second tab, a shared public room) skip the queue.
    if ((state & 1) === 1 && !this.queues.has(room)) return FULFILLED;
    return this.enqueue(room, async () => {
      if (this.isSubscribed(room) || this.holdersOf(room) === 0) return;
      await this.broker.subscribe(room);
      this.setSubscribed(room, true);
    });
  }

  release(room: string): void {
    const state = this.rooms.get(room) ?? 0;
    if (state >= 4) {
      this.set(room, state - 2);
      return;
    }
    if (state >= 2) {
      this.held--;
      this.set(room, state - 2);
    }
    this.enqueue(room, async () => {
      if (this.holdersOf(room) > 0 || !this.isSubscribed(room)) return;
      this.setSubscribed(room, false);
      await this.broker.unsubscribe(room);
    }).catch((error: unknown) =>
      // The broker forgets subscriptions it cannot reach; nothing is left to undo here.
      this.logger.warn({ message: 'Unsubscribe failed', room, error: String(error) }),
    );
  }

  get size(): number {
    return this.held;
  }

  private holdersOf(room: string): number {
    return (this.rooms.get(room) ?? 0) >> 1;
  }

  private isSubscribed(room: string): boolean {
    return ((this.rooms.get(room) ?? 0) & 1) === 1;
  }

  private setSubscribed(room: string, subscribed: boolean): void {
    const state = this.rooms.get(room) ?? 0;
    this.set(room, subscribed ? state | 1 : state & ~1);
  }

  /** A room neither held nor subscribed has no entry. */
  private set(room: string, state: number): void {
    if (state === 0) this.rooms.delete(room);
    else this.rooms.set(room, state);
  }

  private enqueue(room: string, operation: () => Promise<void>): Promise<void> {
    // After the previous operation on the room, whether it succeeded or failed.
    const previous = this.queues.get(room) ?? FULFILLED;
    const next = previous.then(operation, operation);
    this.queues.set(room, next);
    const forget = () => {
      if (this.queues.get(room) === next) this.queues.delete(room);
    };
    next.then(forget, forget);
    return next;
  }
}
