import { randomBytes } from 'node:crypto';
import { RedisBroker, RedisBrokerOptions } from '../../src/broker/redis/redis.broker';
import { RedisServer } from '../support/redis-server';
import { BrokerHarness, ClusterOptions } from './broker.contract';

export interface RedisHarness extends BrokerHarness {
  /** A connected pod with its own options, in a cluster of its own unless `prefix` is given. */
  pod(options?: Partial<RedisBrokerOptions>): Promise<RedisBroker>;
}

/** Fast settings for tests: short presence TTL and reconnect backoff. */
export const TEST_REDIS_OPTIONS = {
  historySize: 100,
  historyTtlS: 600,
  inboxSize: 200,
  inboxTtlDays: 30,
  presenceTtlMs: 600,
  presenceRefreshMs: 150,
  commandTimeoutMs: 1000,
  reconnectMinDelayMs: 20,
  reconnectMaxDelayMs: 200,
};

/** RedisBrokers on a private redis-server, one fresh REDIS_PREFIX per cluster. */
export function redisHarness(redis: () => RedisServer): RedisHarness {
  const brokers: RedisBroker[] = [];
  const pod = async (options: Partial<RedisBrokerOptions> = {}) => {
    const broker = new RedisBroker({ url: redis().url, prefix: uniquePrefix(), ...TEST_REDIS_OPTIONS, ...options });
    brokers.push(broker);
    await broker.connect();
    return broker;
  };
  return {
    multiPod: true,
    pod,
    async cluster({ historySize = 100, historyTtlS = 600 }: ClusterOptions = {}) {
      const prefix = uniquePrefix();
      return { pod: () => pod({ prefix, historySize, historyTtlS }) };
    },
    async closeAll() {
      await Promise.all(brokers.splice(0).map((broker) => broker.close()));
    },
  };
}

export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}:`;
}
