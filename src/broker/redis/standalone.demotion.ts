import { ErrorReply } from 'redis';
import { redactedRedisUrl } from '../../config/redacted-redis-url';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { RedisClient } from './redis.client';

/** A write refused by a server that is a replica now. */
const READ_ONLY_REPLY = /^READONLY\b/;

/** What the demotion reads of the connection it serves, and asks of it. */
export interface DemotableConnection {
  closed(): boolean;
  /** Turns unavailable: calls are refused until a resync. */
  markDown(reason: string): void;
  /** Resyncs, retried with backoff; each try asks whether the server is primary again (assertWritable). */
  resync(reason: string): void;
}

/**
 * REDIS_URL's server demoted to a replica in place (downWhileReadOnly): noticed by a write it
 * refuses READONLY, and over once the server REDIS_URL leads to says it is primary again. When
 * to ask the connection decides (StandaloneRedisConnection.resync).
 */
export class StandaloneDemotion {
  /** The server refused a write as a read-only replica (downWhileReadOnly): down until ROLE says primary. */
  private readOnlyNow = false;
  /** The command connection is being reopened to find REDIS_URL's primary (reopenCommand): its 'ready' is not a reconnect. */
  private reopeningNow = false;

  constructor(
    private readonly command: RedisClient,
    private readonly settings: { url: string; commandTimeoutMs: number },
    /** The connection's bounded: ROLE counts against the command connection's deadline. */
    private readonly bounded: <T>(operation: string, call: Promise<T>) => Promise<T>,
    private readonly connection: DemotableConnection,
  ) {}

  get readOnly(): boolean {
    return this.readOnlyNow;
  }

  get reopening(): boolean {
    return this.reopeningNow;
  }

  /** A write refused as READONLY, by a call or inside a script's item (a publish), marks the server read-only. */
  notice(error: unknown): void {
    if (error instanceof ErrorReply && READ_ONLY_REPLY.test(error.message)) this.markReadOnly();
  }

  /**
   * During a resync after READONLY: fails (the resync is retried with backoff) until REDIS_URL
   * leads to a primary again. Asked on a new connection each time: a managed service's failover
   * moves its endpoint (a DNS name, a floating address) to the new primary, while the connection
   * we hold stays with the demoted server for as long as that server keeps it open.
   */
  async assertWritable(): Promise<void> {
    await this.reopenCommand();
    const role = (await this.bounded('ROLE', this.command.sendCommand<unknown[]>(['ROLE']))) as unknown[];
    if (role[0] !== 'master') throw new Error(`Redis at ${redactedRedisUrl(this.settings.url)} is still a read-only ${String(role[0])}`);
    this.readOnlyNow = false;
  }

  /**
   * A write was refused as READONLY: REDIS_URL's server turned replica in place (a manual role
   * swap, a managed service's failover behind a fixed address). Ready and admitting clients, the
   * pod answered every join `unavailable` and every publish 503 for as long as that lasted: it
   * counts as down (readyz 503, new connections 1013) and resyncs, with backoff, once the server
   * takes writes again.
   */
  private markReadOnly(): void {
    if (this.connection.closed() || this.readOnlyNow) return;
    this.readOnlyNow = true;
    this.connection.markDown(`Redis at ${redactedRedisUrl(this.settings.url)} refuses writes as a read-only replica`);
    this.connection.resync('Redis turned read-only');
  }

  /** A new command connection to REDIS_URL (its name resolved again), replacing the one held. */
  private async reopenCommand(): Promise<void> {
    this.reopeningNow = true;
    try {
      this.command.destroy();
      const { commandTimeoutMs } = this.settings;
      await withDeadline(this.command.connect(), commandTimeoutMs, () => new DeadlineExpiredError('the connection handshake', commandTimeoutMs));
    } finally {
      this.reopeningNow = false;
    }
  }
}
