import type { Logger } from '@nestjs/common';
import { DeadlineExpiredError } from '../deadline';
import { RedisClient, describeError } from './redis.client';
import type { RedisDeadline } from './redis-deadline';

/** The two connections of one node, each with its own deadline. */
export type NodeConnection = 'command' | 'subscriber';

/** What the health check reads of the connection it serves, and asks of it. */
export interface HealthCheckedNode {
  closed(): boolean;
  available(): boolean;
  /** The subscriber connection in use, if any. */
  subscriber(): RedisClient | undefined;
  /** Channels subscribed now, for the log line. */
  channelCount(): number;
  /** Turns unavailable: calls are refused until a resync. */
  markDown(reason: string): void;
  /** Resyncs as after a reconnect, retried with backoff (StandaloneRedisConnection.scheduleResync). */
  resync(reason: string): void;
}

/**
 * Notices a Redis that went silent with its connections open, which node-redis never
 * reports (it waits for a reply as long as the socket lives): a PING on each connection
 * with the command deadline. A silent one marks the connection down; once the command
 * connection answers in time again the pod resyncs (a fresh subscriber, presence, catch-up)
 * as after a reconnect. Run by the connection's timer (StandaloneRedisConnection.start).
 */
export class StandaloneHealthCheck {
  /** Set when a call or PING missed its deadline; cleared by a PING answered in time. */
  private silent = false;
  /** A PING is in flight on the connection: never more than one, so a frozen Redis collects none. */
  private readonly pinging = { command: false, subscriber: false };

  constructor(
    private readonly command: RedisClient,
    /** The connection's: a PING counts against its connection's deadline as any call there. */
    private readonly deadlines: Record<NodeConnection, RedisDeadline>,
    private readonly connection: HealthCheckedNode,
    private readonly commandTimeoutMs: number,
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {}

  /** Every call of a resync was answered in time: Redis is not silent. */
  answered(): void {
    this.silent = false;
  }

  check(): void {
    if (this.connection.closed() || !this.command.isReady) return;
    this.ping('command', this.command).then(
      (answered) => {
        if (!answered || !this.silent || this.connection.closed()) return;
        this.silent = false;
        this.logger.log({ message: 'Redis answers again; resubscribing rooms and re-registering presence', rooms: this.connection.channelCount() });
        this.connection.resync('Redis answers again');
      },
      (error: unknown) => this.logger.debug({ message: 'Health check PING failed', connection: 'command', error: describeError(error) }),
    );
    const subscriber = this.connection.subscriber();
    // A silent subscriber alone is replaced by the resync that follows the command connection's answer.
    if (subscriber?.isReady && this.connection.available()) {
      this.ping('subscriber', subscriber).catch((error: unknown) =>
        this.logger.debug({ message: 'Health check PING failed', connection: 'subscriber', error: describeError(error) }),
      );
    }
  }

  /** True when answered in time, false when a PING is still in flight (none is sent then). */
  private async ping(connection: NodeConnection, client: RedisClient): Promise<boolean> {
    if (this.pinging[connection]) return false;
    this.pinging[connection] = true;
    const answer = client.ping();
    const settled = () => {
      this.pinging[connection] = false;
    };
    answer.then(settled, settled);
    try {
      await this.deadlines[connection].track(answer, `PING (${connection} connection)`);
    } catch (error) {
      if (error instanceof DeadlineExpiredError) this.markSilent(error.operation);
      throw error;
    }
    return true;
  }

  /** A PING missed its deadline: Redis is stuck or gone for every caller, not just one. */
  private markSilent(operation: string): void {
    if (this.connection.closed()) return;
    this.silent = true;
    this.connection.markDown(`Redis did not answer ${operation} within ${this.commandTimeoutMs} ms`);
  }
}
