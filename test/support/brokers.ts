import { randomBytes } from 'node:crypto';
import { RedisServer, startRedis } from './redis-server';
import { closeOpenApps } from './test-app';

/**
 * The brokers the shared e2e suites run on: every single-pod behaviour must hold on the
 * embedded broker and on Redis alike. Use inside a describe: `const broker = useBroker(kind)`.
 */
export const BROKER_KINDS = ['memory', 'redis'] as const;
export type BrokerKind = (typeof BROKER_KINDS)[number];

export interface BrokerFixture {
  /** Environment for one app instance; instances that should share a cluster share `cluster`. */
  env(cluster?: string): Record<string, string>;
  readonly redis: RedisServer | undefined;
}

export function useBroker(kind: BrokerKind): BrokerFixture {
  let redis: RedisServer | undefined;
  const filePrefix = `t${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
  });
  afterAll(async () => {
    // Hooks run in declaration order, so this one runs before the test file's own: close the
    // apps first, or they would log the Redis they depend on vanishing.
    if (redis) await closeOpenApps();
    await redis?.stop();
  });
  return {
    get redis() {
      return redis;
    },
    env(cluster = 'default'): Record<string, string> {
      if (kind === 'memory') return {};
      if (!redis) throw new Error('Redis not started: call env() inside a test or hook');
      return { REDIS_URL: redis.url, REDIS_PREFIX: `${filePrefix}:${cluster}:` };
    },
  };
}
