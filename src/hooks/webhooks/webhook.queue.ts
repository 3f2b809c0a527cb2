import { QueuedEvent, UnstampedEvent } from './webhook-event';

export type Lease = { held: false } | { held: true; nowMs: number; depth: number; head: QueuedEvent[] };

/**
 * Where events wait until a receiver has them. Herald ships two drivers, chosen in
 * createWebhookDrivers: MemoryWebhookQueue (one pod; events die with it) and RedisWebhookQueue
 * (shared by every pod; events survive any pod).
 *
 * Contract:
 * - Order: events leave in the order they were queued, so one user's online and offline
 *   arrive as they happened. Only the holder of the lease delivers, one batch at a time.
 * - At least once: an event leaves the queue only through `remove`, called after a 2xx (or
 *   when its retry window is over); a holder that dies leaves its lease to expire.
 * - Bounded: past `queueMax` events, new ones are dropped and counted.
 */
export abstract class WebhookQueue {
  /** False for the in-process queue: what is in it is lost with the pod. */
  abstract readonly durable: boolean;

  /**
   * Appends events in order, each stamped with the queue's clock (`timestamp` and `queuedAtMs`);
   * resolves with how many were dropped because the queue is full. The queue's clock, not the
   * calling pod's: `lease` judges batch waits and retry windows by it (Redis TIME for the shared
   * queue), and a pod whose clock ran ahead had its events wait that far ahead of the whole
   * queue, or, behind, dropped past WEBHOOK_RETRY_S before one attempt.
   */
  abstract enqueue(events: UnstampedEvent[]): Promise<number>;

  /**
   * Takes or extends the right to deliver for `leaseMs` and, when held, returns up to `max`
   * events from the head with the queue's depth and clock.
   */
  abstract lease(leaseMs: number, max: number): Promise<Lease>;

  /** Removes these events from the head; ids no longer there (another pod removed them) are skipped. */
  abstract remove(ids: string[]): Promise<void>;

  /** Gives the lease up, so another pod takes over at once. */
  abstract release(): Promise<void>;
}
