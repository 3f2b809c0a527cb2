import type { Logger } from '@nestjs/common';
import { type PlainRedisClient, describeError, destroyClient } from './redis.client';
import { SentinelAccess, sentinelClient, serverAddress } from './sentinel.clients';

/**
 * Listens for `+switch-master` of this pod's primary on one sentinel at a time, moving to the
 * next when it is lost. What to do with the primary announced the connection decides
 * (SentinelRedisConnection.follow): one sentinel's word alone is not taken blindly.
 */
export class SentinelSwitchWatch {
  private watcher: PlainRedisClient | undefined;
  private watchedSentinel = 0;
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly access: SentinelAccess,
    /** The pause before the next sentinel is listened to. */
    private readonly retryMs: number,
    private readonly connection: { closed(): boolean; announced(primary: string): void },
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {}

  /** Listens on the next sentinel. */
  watch(): void {
    if (this.connection.closed()) return;
    const sentinel = this.access.sentinels[this.watchedSentinel % this.access.sentinels.length];
    const watcher = sentinelClient(this.access, sentinel, false);
    this.watcher = watcher;
    const retry = () => {
      if (this.connection.closed() || this.watcher !== watcher) return;
      this.watcher = undefined;
      destroyClient(watcher);
      this.watchedSentinel++;
      this.watchTimer = setTimeout(() => this.watch(), this.retryMs);
    };
    watcher.on('error', (error: Error) => {
      this.logger.debug({ message: 'Sentinel watch connection error', sentinel: `${sentinel.host}:${sentinel.port}`, error: describeError(error) });
      retry();
    });
    watcher
      .connect()
      .then(() =>
        watcher.subscribe('+switch-master', (message) => {
          // `<master name> <old ip> <old port> <new ip> <new port>`
          const [name, , , host, port] = message.split(' ');
          if (name === this.access.masterName) this.connection.announced(serverAddress(host, port));
        }),
      )
      .catch(retry);
  }

  /** Drops the sentinel listened to; none is listened to after (a pause under way sees the connection closed). */
  close(): void {
    clearTimeout(this.watchTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher?.isOpen) destroyClient(watcher);
  }
}
