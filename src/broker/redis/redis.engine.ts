import { Logger } from '@nestjs/common';
import { HeraldConfig } from '../../config/herald.config';
import { Engine, EngineConnectError } from '../engine';
import { RedisBroker, RedisBrokerOptions } from './redis.broker';
import { redactedUrl } from './redis.client';
import { RedisConnection } from './redis.connection';
import { RedisInboxStore } from './redis.inbox-store';
import { RedisKeys } from './redis-keys';
import { RedisPresenceOptions, RedisPresenceStore } from './redis.presence-store';
import { RedisConnectionOptions, StandaloneRedisConnection } from './standalone.connection';

export interface RedisEngineOptions extends RedisConnectionOptions, RedisBrokerOptions, RedisPresenceOptions {
  /** REDIS_PREFIX: namespaces every key and channel. */
  prefix: string;
}

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

  constructor(options: RedisEngineOptions) {
    super();
    this.connection = new StandaloneRedisConnection(options);
    const keys = new RedisKeys(options.prefix);
    this.broker = new RedisBroker(this.connection, keys, options);
    this.presence = new RedisPresenceStore(this.connection, keys, options);
    this.inbox = new RedisInboxStore(this.connection, keys, options);
    this.description = { engine: 'redis', url: redactedUrl(options.url), prefix: options.prefix };
  }

  static fromConfig(config: HeraldConfig): RedisEngine {
    return new RedisEngine({
      url: config.redisUrl!,
      prefix: config.redisPrefix,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      historySize: config.historySize,
      historyTtlS: config.historyTtlS,
      inboxSize: config.inboxSize,
      inboxTtlMs: config.inboxTtlDays * 86_400_000,
      // Section 3 terminates a connection silent for 2 heartbeats; a dead pod's presence goes as fast.
      presenceTtlMs: 2 * config.heartbeatMs,
      presenceRefreshMs: Math.max(50, Math.floor(config.heartbeatMs / 2)),
    });
  }

  async connect(): Promise<void> {
    try {
      await this.connection.connect();
    } catch (error) {
      throw new EngineConnectError('REDIS_URL', error instanceof Error ? error.message : String(error));
    }
    this.presence.start();
    this.logger.log({ message: 'Connected to Redis', url: this.description.url, prefix: this.description.prefix });
  }

  /** Forgets this pod's presence in Redis, then closes the connection. */
  async close(): Promise<void> {
    await this.presence.close();
    this.broker.close();
    await this.connection.close();
  }
}
