import { Logger } from '@nestjs/common';
import { createClient } from 'redis';
import { redactedUrl } from '../../broker/redis/redis.client';
import { ActivityKeys, HOOKS_SCRIPTS } from './hooks-redis.scripts';

const COMMAND_TIMEOUT_MS = 3000;
const RECONNECT_MAX_DELAY_MS = 2000;

function createHooksClient(url: string) {
  return createClient({
    url,
    scripts: HOOKS_SCRIPTS,
    // Fail at once while disconnected: every caller has its own retry (timers, full sync).
    disableOfflineQueue: true,
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: COMMAND_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(RECONNECT_MAX_DELAY_MS, 50 * 2 ** Math.min(retries, 10)),
    },
  });
}
export type HooksRedisClient = ReturnType<typeof createHooksClient>;

/**
 * The webhook drivers' own Redis connection (separate from the broker's, so hooks never queue
 * behind room traffic) and their keys. Every key carries the hash tag `{hooks}`: the scripts
 * that move counts and queue events touch several of them at once.
 */
export class HooksRedisStore {
  private readonly logger = new Logger(HooksRedisStore.name);
  readonly client: HooksRedisClient;
  private readonly base: string;
  private reportedDown = false;

  constructor(
    private readonly url: string,
    prefix: string,
  ) {
    this.base = `${prefix}{hooks}:`;
    this.client = createHooksClient(url);
    this.client.on('error', (error: Error) => {
      // A reconnect loop reports every failed attempt; the first is worth a warning.
      const fields = { message: 'Hooks Redis connection error', url: redactedUrl(this.url), error: error.message };
      if (this.reportedDown) this.logger.debug(fields);
      else this.logger.warn(fields);
      this.reportedDown = true;
    });
    this.client.on('ready', () => (this.reportedDown = false));
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    try {
      await this.client.close();
    } catch (error) {
      this.logger.debug({ message: 'Graceful close failed; destroying the connection', error: String(error) });
      this.client.destroy();
    }
  }

  activityKeys(podId: string): ActivityKeys {
    return { pods: `${this.base}pods`, totals: `${this.base}totals`, queue: this.queueKey, pod: `${this.base}pod:${podId}`, podPrefix: `${this.base}pod:` };
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
