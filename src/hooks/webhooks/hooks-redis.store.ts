// node-redis's own slot function (not re-exported), so slots are computed as its cluster client does.
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { RedisTopology } from '../../config/herald.config';
import { HooksRedisCommands, HooksRedisConnection } from './hooks-redis.connection';
import { ActivityKeys } from './hooks-redis.scripts';

/**
 * The webhook drivers' Redis keys and the connection they run on. Every key is
 * `<REDIS_PREFIX>{hooks}:<name>`: the hash tag `{hooks}` puts them all in one slot, which the
 * scripts need (they move counts and queue events across several keys at once) and which on a
 * Cluster means they all live on one shard. That is fine: the hooks keys hold one count per
 * online user and room and a bounded queue, and take a few calls per batch, not per message.
 * One-node deployments keep the names they always had, so a rolling update shares one queue.
 */
export class HooksRedisStore {
  private readonly connection: HooksRedisConnection;
  private readonly base: string;

  constructor(topology: RedisTopology, prefix: string, commandTimeoutMs: number) {
    this.base = `${prefix}{hooks}:`;
    if (topology.mode === 'cluster') assertOneSlot([this.queueKey, this.leaseKey, this.unreadKey, ...Object.values(this.activityKeys('pod'))]);
    this.connection = new HooksRedisConnection(topology, commandTimeoutMs);
  }

  /** Every command bounded by REDIS_COMMAND_TIMEOUT_MS. */
  get client(): HooksRedisCommands {
    return this.connection.commands;
  }

  connect(): Promise<void> {
    return this.connection.connect();
  }

  close(withinMs?: number): Promise<void> {
    return this.connection.close(withinMs);
  }

  /** Cuts the connection at once: every call still waiting on it fails. */
  destroy(): void {
    this.connection.destroy();
  }

  activityKeys(podId: string): ActivityKeys {
    return {
      pods: `${this.base}pods`,
      totals: `${this.base}totals`,
      queue: this.queueKey,
      pod: `${this.base}pod:${podId}`,
      podPrefix: `${this.base}pod:`,
      dataset: `${this.base}dataset`,
      clock: `${this.base}clock`,
      mark: `${this.base}pod:${podId}:mark`,
    };
  }

  get queueKey(): string {
    return `${this.base}queue`;
  }

  get leaseKey(): string {
    return `${this.base}lease`;
  }

  get unreadKey(): string {
    return `${this.base}unread`;
  }
}

/**
 * A REDIS_PREFIX holding an empty `{}` would make Redis hash each whole key instead of `{hooks}`,
 * and the scripts would fail with CROSSSLOT on every call: refuse that at start-up instead.
 */
function assertOneSlot(keys: string[]): void {
  const slots = new Set(keys.map((key) => calculateSlot(key)));
  if (slots.size > 1) throw new Error('REDIS_PREFIX puts the webhook keys in different Redis Cluster hash slots: it must not contain "{}"');
}
