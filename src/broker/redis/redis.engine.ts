import { Logger } from '@nestjs/common';
import { DEFAULT_PERSONAL_CHANNELS, HeraldConfig, RedisTopology, describeRedis } from '../../config/herald.config';
import { Engine, EngineConnectError, EngineHealth } from '../engine';
import { BatchWindow } from './batch-window';
import { ClusterRedisConnection } from './cluster.connection';
import { RedisBroker, RedisBrokerOptions } from './redis.broker';
import { RedisConnection, StartSettingError } from './redis.connection';
import { RedisInboxStore } from './redis.inbox-store';
import { RedisKeys } from './redis-keys';
import { RedisPresenceOptions, RedisPresenceStore } from './redis.presence-store';
import { SentinelRedisConnection } from './sentinel.connection';
import { RedisConnectionOptions, StandaloneRedisConnection } from './standalone.connection';

export interface RedisEngineOptions extends Omit<RedisConnectionOptions, 'url' | 'channels'>, RedisBrokerOptions, RedisPresenceOptions {
  /** One server (REDIS_URL); or give `topology`. */
  url?: string;
  /** How Redis is reached: one server, a Cluster or Sentinel. */
  topology?: RedisTopology;
  /** REDIS_PREFIX: namespaces every key and channel. */
  prefix: string;
  /** INBOX_PAGE_MAX_BYTES (InboxOptions); unbounded when omitted. */
  pageMaxBytes?: number;
  /** REDIS_PERSONAL_CHANNELS: channels the personal rooms share; 0 (and always on a Cluster): one per user. */
  personalChannels?: number;
  /** REDIS_BATCH_WINDOW_MS: how long the Redis calls nobody waits on (anchor reads, presence counts and removes) gather before one write (BatchWindow); 0 when not given. */
  batchWindowMs?: number;
}

/** The variable a start-up failure names, per mode. */
const SETTING = { standalone: 'REDIS_URL', cluster: 'REDIS_CLUSTER_NODES', sentinel: 'REDIS_SENTINELS' } as const;

/**
 * The engine for any number of pods: the three seams on one RedisConnection (one command and
 * one subscriber connection per pod), so the inbox is written in the publish script itself.
 */
export class RedisEngine extends Engine {
  readonly broker: RedisBroker;
  readonly presence: RedisPresenceStore;
  readonly inbox: RedisInboxStore;
  readonly description: Readonly<Record<string, string>>;
  private readonly logger = new Logger(RedisEngine.name);
  private readonly connection: RedisConnection;
  private readonly topology: RedisTopology;
  private readonly window: BatchWindow;
  /** connect() completed: this pod may have presence in Redis to forget at close. */
  private connected = false;

  constructor(options: RedisEngineOptions) {
    super();
    const topology = options.topology ?? { mode: 'standalone', url: options.url! };
    this.topology = topology;
    this.connection = RedisEngine.connectionFor(topology, options);
    // On a Cluster each room's channel shares its keys' slot, for SPUBLISH inside the script.
    const cluster = topology.mode === 'cluster';
    const keys = new RedisKeys(options.prefix, cluster, cluster ? 0 : (options.personalChannels ?? DEFAULT_PERSONAL_CHANNELS));
    this.window = new BatchWindow(options.batchWindowMs ?? 0);
    this.broker = new RedisBroker(this.connection, keys, options, this.window);
    this.presence = new RedisPresenceStore(this.connection, keys, options, this.window);
    this.inbox = new RedisInboxStore(this.connection, keys, options);
    this.description = { engine: 'redis', mode: topology.mode, url: describeRedis(topology), prefix: options.prefix };
  }

  private static connectionFor(topology: RedisTopology, options: RedisEngineOptions): RedisConnection {
    switch (topology.mode) {
      case 'standalone':
        return new StandaloneRedisConnection({ ...options, url: topology.url, downWhileReadOnly: true });
      case 'cluster':
        return new ClusterRedisConnection({ ...options, seeds: topology.seeds });
      case 'sentinel':
        return new SentinelRedisConnection({ ...options, ...topology });
    }
  }

  get health(): EngineHealth {
    return this.connection.health;
  }

  static fromConfig(config: HeraldConfig): RedisEngine {
    return new RedisEngine({
      topology: config.redis!,
      minReplicas: config.redisMinReplicas,
      replicaWaitMs: config.redisReplicaWaitMs,
      prefix: config.redisPrefix,
      personalChannels: config.redisPersonalChannels,
      batchWindowMs: config.redisBatchWindowMs,
      replaySize: config.redisReplaySize,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      historySize: config.historySize,
      historyTtlS: config.historyTtlS,
      inboxSize: config.inboxSize,
      inboxTtlMs: config.inboxTtlDays * 86_400_000,
      pageMaxBytes: config.inboxPageMaxBytes,
      // Section 3 terminates a connection silent for 2 heartbeats; a dead pod's presence goes as fast.
      presenceTtlMs: 2 * config.heartbeatMs,
      presenceRefreshMs: Math.max(50, Math.floor(config.heartbeatMs / 2)),
      presenceEventsMaxUsers: config.presenceEventsMaxUsers,
    });
  }

  async connect(): Promise<void> {
    try {
      await this.connection.connect();
    } catch (error) {
      const setting = error instanceof StartSettingError ? error.setting : SETTING[this.topology.mode];
      throw new EngineConnectError(setting, error instanceof Error ? error.message : String(error));
    }
    this.presence.start();
    this.connected = true;
    this.logger.log({ message: 'Connected to Redis', url: this.description.url, prefix: this.description.prefix });
  }

  /**
   * Forgets this pod's presence in Redis, then closes the connection. A pod closed while it
   * starts (stopped then) has none to forget, and its start ends at once: waiting for the removes,
   * it waited for a Redis that may never answer.
   */
  async close(): Promise<void> {
    // Nothing is left waiting on a timer: what waits goes out (or fails) with the connection.
    this.window.flushNow();
    if (this.connected) await this.presence.close();
    // Awaited after the connection's close, which ends the broker's calls still waiting on Redis.
    const brokerClosed = this.broker.close();
    await this.connection.close();
    await brokerClosed;
  }
}
