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
 *   when its retry window is over), or as the oldest of a full queue (below); a holder that
 *   dies leaves its lease to expire.
 * - Bounded, keeping the newest: past `queueMax` events, the oldest waiting ones are dropped
 *   (and counted) to make room, and what remains keeps its order. A receiver reads activity
 *   events as state, where the last one for a user or room is right: dropping the newest would
 *   leave it a stale `user.online` that nothing corrects (a last event is lost only once
 *   `queueMax` newer ones follow it). The oldest may be the batch the lease holder is
 *   sending: `remove` then skips the dropped ids and takes only delivered events.
 */
export abstract class WebhookQueue {
  /** False for the in-process queue: what is in it is lost with the pod. */
  abstract readonly durable: boolean;

  /**
   * Appends events in order, each stamped with the queue's clock (`timestamp` and `queuedAtMs`);
   * every one enters, and it resolves with how many of the oldest were dropped to stay within
   * `queueMax` (this call's own first ones too, when it brings more than that). The queue's
   * clock, not the calling pod's: `lease` judges batch waits and retry windows by it (Redis TIME
   * for the shared queue), and a pod whose clock ran ahead had its events wait that far ahead of
   * the whole queue, or, behind, dropped past WEBHOOK_RETRY_S before one attempt.
   */
  abstract enqueue(events: UnstampedEvent[]): Promise<number>;

  /**
   * Takes or extends the right to deliver for `leaseMs` and, when held, returns up to `max`
   * events from the head with the queue's depth and clock.
   */
  abstract lease(leaseMs: number, max: number): Promise<Lease>;

  /**
   * Removes these events from the head; ids no longer there (another pod removed them, or they
   * were dropped as the oldest while being sent) are skipped: only events with these ids leave.
   */
  abstract remove(ids: string[]): Promise<void>;

  /** Gives the lease up, so another pod takes over at once. */
  abstract release(): Promise<void>;
}
