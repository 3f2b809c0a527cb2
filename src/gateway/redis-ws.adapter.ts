import { Logger } from '@nestjs/common';
import type { WebSocketServer } from 'ws';
import { redactedUrl } from '../broker/redis.broker';
import { ConfigurationError } from '../config/environment';
import { HeraldWsAdapter } from './herald-ws.adapter';

/**
 * The platform-ws counterpart of Nest's Redis IoAdapter: the same connection edge as
 * HeraldWsAdapter, on a Redis broker connected before the first socket is accepted.
 *
 *     const adapter = new RedisWsAdapter(app);
 *     await adapter.connectToRedis();
 *     app.useWebSocketAdapter(adapter);
 *
 * Fan-out between pods is the broker's job (one delivery path for every publication), so the
 * adapter adds no Pub/Sub of its own.
 */
export class RedisWsAdapter extends HeraldWsAdapter {
  private readonly redisLogger = new Logger(RedisWsAdapter.name);
  private connected = false;

  /** Connects the broker to REDIS_URL; a ConfigurationError naming REDIS_URL when it cannot. */
  async connectToRedis(): Promise<void> {
    const url = this.config.redisUrl;
    if (!url) throw new ConfigurationError(['REDIS_URL must be set to use RedisWsAdapter']);
    try {
      await this.broker.connect();
    } catch (error) {
      throw new ConfigurationError([`REDIS_URL: ${error instanceof Error ? error.message : String(error)}`]);
    }
    this.connected = true;
    this.redisLogger.log({ message: 'Connected to Redis', url: redactedUrl(url), prefix: this.config.redisPrefix });
  }

  create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    if (!this.connected) throw new Error('RedisWsAdapter: await connectToRedis() before app.useWebSocketAdapter(adapter)');
    return super.create(port, options);
  }
}
