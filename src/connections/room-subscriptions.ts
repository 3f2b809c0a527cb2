import { Logger } from '@nestjs/common';
import { Broker } from '../broker/broker';

/**
 * Reference-counts this pod's interest in each room, so the broker is subscribed exactly while
 * at least one local connection is in (or joining) the room. Operations on one room run in
 * order, so a leave racing a join never unsubscribes a room someone just entered.
 */
export class RoomSubscriptions {
  private readonly logger = new Logger(RoomSubscriptions.name);
  private readonly holders = new Map<string, number>();
  private readonly subscribed = new Set<string>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly broker: Broker) {}

  /** Resolves once the broker delivers the room here; rejects when it cannot (the hold is kept: release it). */
  acquire(room: string): Promise<void> {
    this.holders.set(room, (this.holders.get(room) ?? 0) + 1);
    return this.enqueue(room, async () => {
      if (this.subscribed.has(room) || !this.holders.get(room)) return;
      await this.broker.subscribe(room);
      this.subscribed.add(room);
    });
  }

  release(room: string): void {
    const remaining = (this.holders.get(room) ?? 0) - 1;
    if (remaining > 0) {
      this.holders.set(room, remaining);
      return;
    }
    this.holders.delete(room);
    this.enqueue(room, async () => {
      if (this.holders.has(room) || !this.subscribed.delete(room)) return;
      await this.broker.unsubscribe(room);
    }).catch((error: unknown) =>
      // The broker forgets subscriptions it cannot reach; nothing is left to undo here.
      this.logger.warn({ message: 'Unsubscribe failed', room, error: String(error) }),
    );
  }

  get size(): number {
    return this.holders.size;
  }

  private enqueue(room: string, operation: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(room) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(operation);
    this.queues.set(room, next);
    const forget = () => {
      if (this.queues.get(room) === next) this.queues.delete(room);
    };
    next.then(forget, forget);
    return next;
  }
}
