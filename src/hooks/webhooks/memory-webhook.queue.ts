import { Lease, WebhookQueue } from './webhook.queue';
import { QueuedEvent, UnstampedEvent, stamped } from './webhook-event';

/** Below this many departed entries the array is not worth copying yet. */
const COMPACT_MIN = 1024;

/** The queue of a pod running alone: an array, always leased to this pod. */
export class MemoryWebhookQueue extends WebhookQueue {
  readonly durable = false;
  /**
   * What waits is `events[first..]`. Events leave from the head by moving `first`, not by
   * shifting the array: while a receiver is down every new event pushes the oldest out of a
   * full queue, and a shift or slice per event would copy up to WEBHOOK_QUEUE_MAX entries each
   * time. The departed prefix is cut off once it is half the array, so each event costs O(1)
   * amortized (a copy of n entries only after n have left).
   */
  private events: QueuedEvent[] = [];
  private first = 0;

  constructor(private readonly queueMax: number) {
    super();
  }

  async enqueue(events: UnstampedEvent[]): Promise<number> {
    const now = Date.now();
    return this.enqueueNow(events.map((event) => stamped(event, now)));
  }

  /**
   * The synchronous enqueue the memory tracker uses, so events keep the order they happened in.
   * Every event enters; past `queueMax` the oldest waiting ones leave. Returns how many left.
   */
  enqueueNow(events: QueuedEvent[]): number {
    for (const event of events) this.events.push(event);
    const dropped = Math.max(0, this.depth() - this.queueMax);
    this.leave(dropped);
    return dropped;
  }

  async lease(_leaseMs: number, max: number): Promise<Lease> {
    // A copy: the batch being delivered stays as leased while the queue drops from its head.
    return { held: true, nowMs: Date.now(), depth: this.depth(), head: this.events.slice(this.first, this.first + max) };
  }

  async remove(ids: string[]): Promise<void> {
    const gone = new Set(ids);
    let count = 0;
    while (this.first + count < this.events.length && gone.has(this.events[this.first + count].id)) count++;
    this.leave(count);
  }

  async release(): Promise<void> {
    // One pod: nobody to hand over to.
  }

  private depth(): number {
    return this.events.length - this.first;
  }

  /** The `count` oldest waiting events leave. */
  private leave(count: number): void {
    this.first += count;
    if (this.first === this.events.length) {
      this.events = [];
      this.first = 0;
    } else if (this.first >= COMPACT_MIN && this.first * 2 >= this.events.length) {
      this.events = this.events.slice(this.first);
      this.first = 0;
    }
  }
}
