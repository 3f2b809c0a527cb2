import { randomBytes } from 'node:crypto';
import { HeraldConfig, WebhookSettings } from '../../config/herald.config';
import { ActivityTracker, QueueOutcome } from './activity.tracker';
import { HooksRedisStore } from './hooks-redis.store';
import { MemoryActivityTracker } from './memory-activity.tracker';
import { MemoryUnreadSchedule } from './memory-unread.schedule';
import { MemoryWebhookQueue } from './memory-webhook.queue';
import { RedisActivityTracker } from './redis-activity.tracker';
import { RedisUnreadSchedule } from './redis-unread.schedule';
import { RedisWebhookQueue } from './redis-webhook.queue';
import { UnreadSchedule } from './unread.schedule';
import { WebhookQueue } from './webhook.queue';

/** The webhooks' back end: where counts, events and unread checks live. */
export interface WebhookDrivers {
  queue: WebhookQueue;
  tracker: ActivityTracker;
  unread: UnreadSchedule;
  /** Connects what needs connecting (Redis) before the drivers are used. */
  connect(): Promise<void>;
  /** Closes the connection, once the drivers are done with it: gracefully within `withinMs` (REDIS_COMMAND_TIMEOUT_MS unless given), then cut. */
  close(withinMs?: number): Promise<void>;
  /**
   * With Redis, how long the drivers' last calls on shutdown may take together before the
   * connection is cut (destroy): twice REDIS_COMMAND_TIMEOUT_MS, as the broker's own last calls.
   * Undefined in this process, where the only wait is the dispatcher's last webhook attempt.
   */
  lastCallsMs?: number;
  /** Cuts the connection at once: every call still waiting on it fails. */
  destroy(): void;
}

/**
 * The one place the webhooks' back end is chosen: Redis whenever the broker uses it (REDIS_URL,
 * REDIS_CLUSTER_NODES or REDIS_SENTINELS, in the same topology), this process otherwise.
 */
export function createWebhookDrivers(config: HeraldConfig, settings: WebhookSettings, report: (outcome: QueueOutcome) => void): WebhookDrivers {
  if (!config.redis) {
    const queue = new MemoryWebhookQueue(settings.queueMax);
    return {
      queue,
      tracker: new MemoryActivityTracker(queue, report),
      unread: new MemoryUnreadSchedule(settings.queueMax),
      connect: async () => undefined,
      close: async () => undefined,
      destroy: () => undefined,
    };
  }
  const store = new HooksRedisStore(config.redis, config.redisPrefix, config.redisCommandTimeoutMs);
  const podId = randomBytes(9).toString('base64url');
  return {
    queue: new RedisWebhookQueue(store, podId, settings.queueMax),
    tracker: new RedisActivityTracker(
      store,
      {
        podId,
        queueMax: settings.queueMax,
        // As presence (section 3): a pod silent for two heartbeats is dead, and so are its users.
        podTtlMs: 2 * config.heartbeatMs,
        refreshMs: Math.max(50, Math.floor(config.heartbeatMs / 2)),
      },
      report,
    ),
    unread: new RedisUnreadSchedule(store, settings.queueMax),
    connect: () => store.connect(),
    close: (withinMs) => store.close(withinMs),
    lastCallsMs: 2 * config.redisCommandTimeoutMs,
    destroy: () => store.destroy(),
  };
}
