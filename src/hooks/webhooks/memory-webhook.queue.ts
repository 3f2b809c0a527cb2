import { Lease, WebhookQueue } from './webhook.queue';
import { QueuedEvent, UnstampedEvent, stamped } from './webhook-event';

/** The queue of a pod running alone: an array, always leased to this pod. */
export class MemoryWebhookQueue extends WebhookQueue {
  readonly durable = false;
  private events: QueuedEvent[] = [];

  constructor(private readonly queueMax: number) {
    super();
  }

  async enqueue(events: UnstampedEvent[]): Promise<number> {
    const now = Date.now();
    return this.enqueueNow(events.map((event) => stamped(event, now)));
  }

  /** The synchronous enqueue the memory tracker uses, so events keep the order they happened in. */
  enqueueNow(events: QueuedEvent[]): number {
    const room = Math.max(0, this.queueMax - this.events.length);
    this.events.push(...events.slice(0, room));
    return Math.max(0, events.length - room);
  }

  async lease(_leaseMs: number, max: number): Promise<Lease> {
    return { held: true, nowMs: Date.now(), depth: this.events.length, head: this.events.slice(0, max) };
  }

  async remove(ids: string[]): Promise<void> {
    const gone = new Set(ids);
    let count = 0;
    while (count < this.events.length && gone.has(this.events[count].id)) count++;
    this.events = count === this.events.length ? [] : this.events.slice(count);
  }

  async release(): Promise<void> {
    // One pod: nobody to hand over to.
  }
}
