import { randomBytes } from 'node:crypto';
import { RedisEngine, RedisEngineOptions } from '../../src/broker/redis/redis.engine';
import { RedisTopology } from '../../src/config/herald.config';
import { RedisServer } from '../support/redis-server';
import { ClusterOptions, EngineHarness, PodOptions } from './engine-harness';

export interface RedisHarness extends EngineHarness {
  /** A connected pod with its own options, in a cluster of its own unless `prefix` is given. */
  pod(options?: Partial<RedisEngineOptions>): Promise<RedisEngine>;
}

/** Fast settings for tests: short presence TTL and reconnect backoff. */
export const TEST_REDIS_OPTIONS = {
  historySize: 100,
  historyTtlS: 600,
  inboxSize: 200,
  inboxTtlMs: 30 * 86_400_000,
  presenceTtlMs: 1200,
  presenceRefreshMs: 150,
  commandTimeoutMs: 1000,
  reconnectMinDelayMs: 20,
  reconnectMaxDelayMs: 200,
};

/**
 * Presence entries that outlive a stall of the loaded machine: on a shared CI machine a Cluster's
 * pods and nodes once ran no refresh for longer than 1.2 s, and a user's first entry expired
 * before the same user's second was added, which the test then saw as a first arrival.
 */
const HA_PRESENCE_TIMING = { presenceTtlMs: 2500, presenceRefreshMs: 200 };

/**
 * The high-availability topologies' suites: a durable write waits for a replica, and each call
 * may take 5 s. Six or four redis-servers share the machine with the suite's other workers, and
 * a Cluster call missed a 1 s deadline on a loaded machine; no contract test waits on a deadline.
 */
export const HA_TOPOLOGY_OPTIONS: Partial<RedisEngineOptions> = { minReplicas: 1, commandTimeoutMs: 5000, ...HA_PRESENCE_TIMING };

/** A crashed pod never refreshes its presence within a test. */
const NEVER_MS = 600_000;

/** RedisEngines on a private redis-server, one fresh REDIS_PREFIX per cluster. */
export function redisHarness(redis: () => RedisServer): RedisHarness {
  return topologyHarness(() => ({ mode: 'standalone', url: redis().url }));
}

/**
 * RedisEngines on any Redis topology (one server, a Cluster, Sentinel), so every seam's
 * contract runs in every mode; one fresh REDIS_PREFIX per cluster of pods.
 */
export function topologyHarness(topology: () => RedisTopology, extra: Partial<RedisEngineOptions> = {}): RedisHarness {
  const engines: RedisEngine[] = [];
  const pod = async (options: Partial<RedisEngineOptions> = {}) => {
    const engine = new RedisEngine({ topology: topology(), prefix: uniquePrefix(), ...TEST_REDIS_OPTIONS, ...extra, ...options });
    engines.push(engine);
    await engine.connect();
    return engine;
  };
  return {
    multiPod: true,
    // Read when a test runs: a Cluster's or Sentinel set's addresses are known only then.
    get subscribesPersonalRoomsAtOnce() {
      return topology().mode !== 'cluster';
    },
    presenceTtlMs: extra.presenceTtlMs ?? TEST_REDIS_OPTIONS.presenceTtlMs,
    pod,
    async cluster(options: ClusterOptions = {}) {
      const prefix = uniquePrefix();
      return { pod: ({ crashed }: PodOptions = {}) => pod({ prefix, ...options, ...(crashed ? { presenceRefreshMs: NEVER_MS } : {}) }) };
    },
    async closeAll() {
      await Promise.all(engines.splice(0).map((engine) => engine.close()));
    },
  };
}

export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}:`;
}
