import { Logger } from '@nestjs/common';
import { HooksRedisStore } from './hooks-redis.store';
import { Lease, WebhookQueue } from './webhook.queue';
import { QueuedEvent, UnstampedEvent, decodeQueued, entryParts } from './webhook-event';

/** The queue shared by every pod: a Redis list, delivered by whichever pod holds the lease. */
export class RedisWebhookQueue extends WebhookQueue {
  readonly durable = true;
  private readonly logger = new Logger(RedisWebhookQueue.name);

  constructor(
    private readonly store: HooksRedisStore,
    private readonly podId: string,
    private readonly queueMax: number,
  ) {
    super();
  }

  async enqueue(events: UnstampedEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    return this.store.client.hooksQueuePush(this.store.queueKey, this.queueMax, events.flatMap(entryParts));
  }

  async lease(leaseMs: number, max: number): Promise<Lease> {
    const reply = await this.store.client.hooksQueueLease(this.store.leaseKey, this.store.queueKey, this.podId, leaseMs, max);
    if (!reply) return { held: false };
    const head: QueuedEvent[] = [];
    const unreadable: string[] = [];
    for (const entry of reply.entries) {
      const event = decodeQueued(entry);
      if (event) head.push(event);
      else unreadable.push(entry.slice(0, entry.indexOf('\n')));
    }
    if (unreadable.length > 0) {
      // Not written by this version of Herald: dropping it beats blocking the queue forever.
      this.logger.error({ message: 'Dropping unreadable webhook queue entries', count: unreadable.length });
      await this.remove(unreadable);
      return this.lease(leaseMs, max);
    }
    return { held: true, nowMs: reply.nowMs, depth: reply.depth, head };
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.store.client.hooksQueueRemove(this.store.queueKey, ids);
  }

  async release(): Promise<void> {
    await this.store.client.hooksQueueRelease(this.store.leaseKey, this.podId);
  }
}
