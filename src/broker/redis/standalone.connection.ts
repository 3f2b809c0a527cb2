import { Logger } from '@nestjs/common';
import { redactedRedisUrl } from '../../config/redacted-redis-url';
import { BrokerUnavailableError } from '../broker';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { RECONNECT_DEFAULTS, RedisClient, asCallError, createRedisClient, describeError, destroyClient, reconnectBackoffMs, shutClient } from './redis.client';
import { ClosedWhileStartingError, RedisCommands, RedisConnection, RedisConnectionHealth, StartSettingError } from './redis.connection';
import { RedisDeadline } from './redis-deadline';
import { ReplicaRefusals, ReplicaWaits, replicasListed } from './replica-waits';
import { StandaloneDemotion } from './standalone.demotion';
import { NodeConnection, StandaloneHealthCheck } from './standalone.health-check';
import { databaseRefused, refuseClusterNode, warnOfTooFewReplicas } from './standalone.start-checks';
import { StandaloneSubscriptions } from './standalone.subscriptions';
import { StartTries } from './start-tries';
import { REDIS_SCRIPTS } from './redis.scripts';

export interface RedisConnectionOptions {
  /** redis:// or rediss:// URL, credentials included. */
  url: string;
  /**
   * REDIS_COMMAND_TIMEOUT_MS: a connection attempt taking longer fails, and so does every call
   * waiting on a connection that has answered nothing for this long (BrokerUnavailableError);
   * Redis then counts as down until a PING is answered in time.
   */
  commandTimeoutMs?: number;
  /** How often both connections are PINGed (default: half the command timeout). */
  healthCheckMs?: number;
  /** Reconnect backoff: doubles from the minimum up to the maximum, with jitter. */
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Connection attempts at start-up before connect() gives up with a clear error. */
  startupAttempts?: number;
  /** REDIS_MIN_REPLICAS and REDIS_REPLICA_WAIT_MS: WAIT after each durable write (0: none). */
  minReplicas?: number;
  replicaWaitMs?: number;
  /** Channels to subscribe from the start: a connection that replaces another (Sentinel failover). */
  channels?: Iterable<string>;
  /**
   * REDIS_URL alone: a server that turns read-only (demoted to a replica in place) marks the
   * connection down until it takes writes again. Sentinel's connections leave that to the
   * failover watch, which moves to the new primary instead.
   */
  downWhileReadOnly?: boolean;
}

const DEFAULTS = {
  commandTimeoutMs: 2000,
  ...RECONNECT_DEFAULTS,
  minReplicas: 0,
  replicaWaitMs: 1000,
  channels: [] as Iterable<string>,
  downWhileReadOnly: false,
};

/**
 * One Redis node (node-redis): one command connection and one subscriber connection per pod.
 *
 * - The command connection reconnects itself with backoff; the subscriber never does: after
 *   any reconnect a fresh subscriber is built from the channel list, rather than trusting the
 *   client library to restore its own pub/sub state.
 * - Every call has a deadline (commandTimeoutMs), and a PING on both connections notices a
 *   Redis that went silent without closing them: a late PING marks the connection unavailable;
 *   once a PING is answered in time again the pod resyncs as after a reconnect.
 *
 * This class decides when a call may run and when the pod resyncs; its parts each keep one
 * concern: the subscriber and its channels (StandaloneSubscriptions), the periodic PING of both
 * connections (StandaloneHealthCheck), a server demoted to replica in place (StandaloneDemotion),
 * what a start refuses or warns of (standalone.start-checks.ts), and durable writes' WAITs
 * (ReplicaWaits).
 */
export class StandaloneRedisConnection extends RedisConnection {
  private readonly logger = new Logger(StandaloneRedisConnection.name);
  private readonly settings: Required<RedisConnectionOptions>;
  /** Durable writes and their WAITs, and the writes they refused (none with REDIS_MIN_REPLICAS=0). */
  private readonly replicaWaits: ReplicaWaits | undefined;
  private readonly replicaRefusals: ReplicaRefusals | undefined;
  private readonly command: RedisClient;
  private readonly subscriptions: StandaloneSubscriptions;
  private readonly healthCheck: StandaloneHealthCheck;
  private readonly demotion: StandaloneDemotion;
  private isAvailable = false;
  private everConnected = false;
  private closed = false;
  private resyncChain: Promise<void> = Promise.resolve();
  private resyncQueued = false;
  private resyncFailures = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** The start's resync, tried as its command connection's connect is (see start). */
  private readonly startTries: StartTries;
  private downSinceMs: number | undefined;
  /** One per connection: when Redis counts as too slow on it (see `bounded`). */
  private readonly deadlines: Record<NodeConnection, RedisDeadline>;

  constructor(options: RedisConnectionOptions) {
    super();
    this.settings = { ...DEFAULTS, healthCheckMs: Math.max(50, Math.floor((options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs) / 2)), ...options };
    this.deadlines = { command: new RedisDeadline(this.settings.commandTimeoutMs), subscriber: new RedisDeadline(this.settings.commandTimeoutMs) };
    this.startTries = new StartTries(this.settings.startupAttempts);
    const { minReplicas, replicaWaitMs } = this.settings;
    if (minReplicas > 0) {
      const sendWait = async () => {
        try {
          return await this.bounded('WAIT', this.command.wait(minReplicas, replicaWaitMs));
        } catch (error) {
          throw asCallError('WAIT', error);
        }
      };
      this.replicaRefusals = new ReplicaRefusals(this.logger, minReplicas);
      const connectedReplicas = async () => replicasListed(await this.bounded('ROLE', this.command.sendCommand<unknown>(['ROLE'])));
      this.replicaWaits = new ReplicaWaits(minReplicas, sendWait, this.replicaRefusals.refused, connectedReplicas);
    }
    this.command = createRedisClient(options.url, {
      connectTimeoutMs: this.settings.commandTimeoutMs,
      reconnectStrategy: (retries, cause) => this.reconnectDelay(retries, cause),
    });
    this.subscriptions = new StandaloneSubscriptions(
      this.settings.channels,
      {
        closed: () => this.closed,
        subscriberError: (error) => this.onClientError('subscriber', error),
        subscriberLost: () => this.onSubscriberLost(),
      },
      this.deliverMessage,
      this.deadlines.subscriber,
      this.settings.commandTimeoutMs,
      this.logger,
    );
    const connection = {
      closed: () => this.closed,
      markDown: (reason: string) => this.markDown(reason),
      resync: (reason: string) => this.scheduleResync(reason),
    };
    this.healthCheck = new StandaloneHealthCheck(
      this.command,
      this.deadlines,
      { ...connection, available: () => this.isAvailable, subscriber: () => this.subscriber, channelCount: () => this.subscriptions.count },
      this.settings.commandTimeoutMs,
      this.logger,
    );
    this.demotion = new StandaloneDemotion(this.command, this.settings, (operation, call) => this.bounded(operation, call), connection);
    this.command.on('error', (error: Error) => this.onClientError('command', error));
    this.command.on('ready', () => this.onCommandReady());
    this.command.on('reconnecting', () => this.markDown('command connection lost'));
  }

  get available(): boolean {
    return this.isAvailable;
  }

  async attempt<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    try {
      return await this.bounded(operation, command(this.command));
    } catch (error) {
      this.noticeErrorReply(error);
      throw asCallError(operation, error);
    }
  }

  /** A write refused as READONLY, by a call or inside a script's item (a publish), marks the server read-only. */
  override noticeErrorReply(error: unknown): void {
    if (this.settings.downWhileReadOnly) this.demotion.notice(error);
  }

  /** One node: the write and WAIT go down the one command connection, in order (ReplicaWaits). */
  async runReplicated<T>(operation: string, _key: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    if (!this.replicaWaits) return this.run(operation, command);
    return this.replicaWaits.write(operation, () => this.run(operation, command));
  }

  get health(): RedisConnectionHealth {
    return {
      shards: [{ shard: this.address, up: this.isAvailable && this.subscriber?.isReady === true }],
      failovers: 0,
    };
  }

  /** host:port of the server, for metrics (no credentials). */
  get address(): string {
    const url = new URL(this.settings.url);
    return `${url.hostname}:${url.port || '6379'}`;
  }

  async subscribe(channel: string): Promise<void> {
    if (!this.isAvailable) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
    await this.subscriptions.subscribe(channel);
  }

  /** One subscriber holds every channel: its PING flushes them all. */
  flushChannel(_channel?: string): Promise<void> {
    return this.subscriptions.flush();
  }

  unsubscribe(channel: string): Promise<boolean> {
    return this.subscriptions.unsubscribe(channel);
  }

  get channelCount(): number {
    return this.subscriptions.count;
  }

  /** The subscriber connection in use (the e2e tests spy on its PING). */
  private get subscriber(): RedisClient | undefined {
    return this.subscriptions.subscriber;
  }

  /**
   * Shuts both connections; no call is answered after it. Closed while it starts (the pod was
   * stopped then), the start ends at once and the connections are cut, not closed: a graceful
   * close waits for every pending reply, which a silent Redis never sends.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    clearTimeout(this.resyncTimer);
    this.startTries.close();
    this.subscriptions.clear();
    this.setAvailable(false);
    if (this.abandonStart()) {
      destroyClient(this.command);
      this.subscriptions.destroy();
    }
    // A resync in flight finishes first (and shuts the subscriber it made, see StandaloneSubscriptions.replace).
    await this.resyncChain.catch(() => undefined);
    await Promise.all([this.subscriptions.shut(), this.shutCommand()]);
  }

  /**
   * Connects both connections (rejecting with a message naming the password-free URL when it
   * cannot): the command connection (node-redis retries it), then resyncs, tried up to
   * `startupAttempts` times too: its subscriber connects once per try (it never reconnects
   * itself), and a TCP connect whose timer fires while the event loop is busy (another app
   * starting in the process, a loaded node) times out though Redis is fine. In one try, that
   * failed the start.
   */
  protected async start(): Promise<void> {
    // node-redis bounds each TCP connect, not the handshake after it, nor its own retries.
    const startupBudgetMs = this.startTries.budgetMs(this.settings.commandTimeoutMs, this.settings.reconnectMaxDelayMs);
    try {
      await this.abandonable(async () => {
        await withDeadline(this.command.connect(), startupBudgetMs, () => new DeadlineExpiredError('the connection handshake', startupBudgetMs));
        this.everConnected = true;
        await refuseClusterNode(this.command, (operation, call) => this.bounded(operation, call));
        await this.startTries.run(() => this.resync(), {
          pauseMs: (attempt) => this.backoffMs(attempt - 1),
          onRetry: (attempt, error) => this.logger.warn({ message: 'Redis start-up resync failed; trying again', attempt, error: describeError(error) }),
        });
      });
    } catch (error) {
      this.closed = true;
      clearTimeout(this.resyncTimer);
      await Promise.all([this.subscriptions.shut(), this.shutCommand()]);
      if (error instanceof ClosedWhileStartingError) throw error;
      const cause = error instanceof Error && 'originalError' in error ? (error as { originalError: Error }).originalError : error;
      if (cause instanceof StartSettingError) throw cause;
      throw new Error(`Cannot connect to Redis at ${redactedRedisUrl(this.settings.url)}: ${describeError(cause)}`);
    }
    // Closed during the resync: close() has shut the clients and cleared no timer yet set.
    if (this.closed) throw new ClosedWhileStartingError();
    this.healthTimer = setInterval(() => this.healthCheck.check(), this.settings.healthCheckMs);
    void warnOfTooFewReplicas(this.command, (operation, call) => this.bounded(operation, call), this.settings, this.logger);
  }

  /**
   * Brings this pod back in line with Redis after (re)connecting: a fresh subscriber holding
   * every channel, the seams' resync steps (presence re-registered), then available, then the
   * seams told (each room caught up). Runs one at a time; triggers that arrive meanwhile fold
   * into one more run.
   */
  private resync(): Promise<void> {
    if (this.resyncQueued) return this.resyncChain;
    this.resyncQueued = true;
    this.resyncChain = this.resyncChain
      .catch(() => undefined)
      .then(async () => {
        this.resyncQueued = false;
        if (this.closed || !this.command.isReady) return;
        if (this.demotion.readOnly) await this.demotion.assertWritable();
        await this.loadScripts();
        await this.subscriptions.replace(this.command);
        if (this.closed) return;
        await Promise.all(this.resyncSteps.map((step) => step()));
        this.resyncFailures = 0;
        // Every step above was answered in time: Redis is not silent.
        this.healthCheck.answered();
        this.setAvailable(true);
        this.notifyResynced();
      });
    return this.resyncChain;
  }

  /** After start-up: a failed resync is retried with backoff while the command connection is up. */
  private scheduleResync(reason: string): void {
    if (this.closed || !this.everConnected) return;
    this.resync().catch((error: unknown) => {
      if (this.closed) return;
      this.resyncFailures++;
      this.logger.warn({ message: 'Redis resync failed', reason, attempt: this.resyncFailures, error: describeError(error) });
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.scheduleResync('retry'), this.backoffMs(this.resyncFailures));
    });
  }

  /**
   * Loads every script before the pod takes traffic (again after a Redis restart, which forgets
   * them). Otherwise the first burst of each script fails with NOSCRIPT and is sent again with
   * its whole source: seconds of Redis time for a burst of admissions, with no reply meanwhile.
   */
  private async loadScripts(): Promise<void> {
    await Promise.all(Object.values(REDIS_SCRIPTS).map((script) => this.bounded('SCRIPT LOAD', this.command.scriptLoad(script.SCRIPT))));
  }

  private onCommandReady(): void {
    // The first 'ready' belongs to start(), and one during reopenCommand to the resync that reopens; later ones are reconnects.
    if (!this.everConnected || this.closed || this.demotion.reopening) return;
    const downMs = this.downSinceMs === undefined ? undefined : Date.now() - this.downSinceMs;
    this.logger.log({ message: 'Redis connection restored; resubscribing rooms and re-registering presence', downMs, rooms: this.subscriptions.count });
    this.scheduleResync('command connection restored');
  }

  private onSubscriberLost(): void {
    this.markDown('subscriber connection lost');
    // With the command connection still up nothing else would notice: rebuild after a pause.
    if (this.command.isReady) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.scheduleResync('subscriber connection lost'), this.backoffMs(0));
    }
  }

  private onClientError(connection: NodeConnection, error: Error): void {
    // A reconnect loop reports every failed attempt; the first is worth an error, the rest are noise.
    const repeated = !this.isAvailable && this.everConnected;
    const fields = { message: 'Redis connection error', connection, url: redactedRedisUrl(this.settings.url), error: describeError(error) };
    if (repeated) this.logger.debug(fields);
    else if (this.everConnected) this.logger.error(fields);
    else this.logger.warn(fields);
    if (connection === 'command' && !this.command.isReady) this.markDown('command connection lost');
  }

  private markDown(reason: string): void {
    if (!this.isAvailable) return;
    this.downSinceMs = Date.now();
    this.logger.warn({ message: 'Redis unavailable', reason });
    this.setAvailable(false);
  }

  private setAvailable(available: boolean): void {
    if (this.isAvailable === available) return;
    this.isAvailable = available;
    this.notifyAvailability(available);
  }

  private reconnectDelay(retries: number, cause: Error): number | Error {
    if (this.closed) return new Error('Redis connection closed');
    // A new Error, not `cause`: node-redis checks `instanceof Error`, and socket errors may come
    // from another realm (test runners' VM contexts).
    // At start, a database Redis refuses is the URL's to mend, not an outage: no try would pass.
    const refused = this.everConnected ? undefined : databaseRefused(this.settings.url, cause);
    if (refused) return refused;
    if (!this.everConnected && retries + 1 >= this.settings.startupAttempts) return new Error(describeError(cause));
    return this.backoffMs(retries);
  }

  private backoffMs(attempt: number): number {
    return reconnectBackoffMs(attempt, this.settings);
  }

  /**
   * Every call on the command connection goes through here (or `run` / `attempt`), and every
   * call on the subscriber through its own RedisDeadline (StandaloneSubscriptions): it fails with
   * DeadlineExpiredError once its connection has answered nothing for the command deadline
   * while calls wait (RedisDeadline), not once it has waited that long itself. A burst of
   * admissions on a busy pod queues thousands of calls, and the last of them, and a PING behind
   * them, wait far longer than the deadline for a Redis that answers every one in time; failing
   * them (and marking Redis down over a late PING) would refuse connections while Redis is healthy.
   */
  private bounded<T>(operation: string, call: Promise<T>): Promise<T> {
    return this.deadlines.command.track(call, operation);
  }

  private shutCommand(): Promise<void> {
    return shutClient(this.command, this.settings.commandTimeoutMs, this.logger);
  }
}
