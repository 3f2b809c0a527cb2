import { Logger } from '@nestjs/common';
import { describeError } from './redis.client';
import type { RedisConnection } from './redis.connection';

/**
 * This pod's hold on the channels several rooms share (personal rooms, REDIS_PERSONAL_CHANNELS):
 * a channel is subscribed while any of its rooms is followed here and unsubscribed with the
 * last. Taking a channel already subscribed costs no Redis call, which is the point: a connection
 * no longer pays a SUBSCRIBE and an UNSUBSCRIBE for its personal room. Operations on one channel
 * run in order, so a release racing an acquire never drops a channel that was just taken again.
 */
export class SharedChannels {
  private readonly logger = new Logger(SharedChannels.name);
  private readonly holders = new Map<string, number>();
  private readonly subscribed = new Set<string>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly connection: Pick<RedisConnection, 'subscribe' | 'unsubscribe'>) {}

  /** Resolves once the channel's messages reach this pod; on rejection the hold is kept: release it. */
  acquire(channel: string): Promise<void> {
    this.holders.set(channel, (this.holders.get(channel) ?? 0) + 1);
    if (this.subscribed.has(channel) && !this.queues.has(channel)) return Promise.resolve();
    return this.enqueue(channel, async () => {
      if (this.subscribed.has(channel) || !this.holders.has(channel)) return;
      await this.connection.subscribe(channel);
      this.subscribed.add(channel);
    });
  }

  release(channel: string): void {
    const left = (this.holders.get(channel) ?? 0) - 1;
    if (left > 0) {
      this.holders.set(channel, left);
      return;
    }
    this.holders.delete(channel);
    this.enqueue(channel, async () => {
      if (this.holders.has(channel) || !this.subscribed.has(channel)) return;
      this.subscribed.delete(channel);
      await this.connection.unsubscribe(channel);
    }).catch((error: unknown) =>
      // The connection forgets channels it cannot reach; its next subscriber is built without this one.
      this.logger.debug({ message: 'Unsubscribing a shared channel failed', channel, error: describeError(error) }),
    );
  }

  /** Channels subscribed now (leak checks). */
  get size(): number {
    return this.subscribed.size;
  }

  clear(): void {
    this.holders.clear();
    this.subscribed.clear();
  }

  private enqueue(channel: string, operation: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(channel) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(operation);
    this.queues.set(channel, next);
    const forget = () => {
      if (this.queues.get(channel) === next) this.queues.delete(channel);
    };
    next.then(forget, forget);
    return next;
  }
}
