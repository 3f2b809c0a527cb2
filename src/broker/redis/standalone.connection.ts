import { Logger } from '@nestjs/common';
import { ErrorReply } from 'redis';
import { BrokerUnavailableError } from '../broker';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { RECONNECT_DEFAULTS, RedisClient, asCallError, createRedisClient, describeError, destroyClient, reconnectBackoffMs, redactedUrl } from './redis.client';
import { ClosedWhileStartingError, RedisCommands, RedisConnection, RedisConnectionHealth, StartSettingError } from './redis.connection';
import { RedisDeadline } from './redis-deadline';
import { ReplicaWaits } from './replica-waits';
import { StartTries } from './start-tries';
import { TurnShared } from './turn-shared';
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

/** A write refused by a server that is a replica now. */
const READ_ONLY_REPLY = /^READONLY\b/;

/**
 * SELECT refused in the handshake: a database past the server's `databases` (16 by default), or
 * a number too large for Redis to read. SELECT is the handshake's only numeric argument.
 */
const DATABASE_REFUSED = /^ERR (DB index is out of range|invalid DB index|value is not an integer or out of range)/;

/** SUBSCRIBE arguments per command when resubscribing many rooms at once. */
const RESUBSCRIBE_BATCH = 500;


/**
 * One Redis node (node-redis): one command connection and one subscriber connection per pod.
 *
 * - The command connection reconnects itself with backoff; the subscriber never does: after
 *   any reconnect a fresh subscriber is built from the channel list, rather than trusting the
 *   client library to restore its own pub/sub state.
 * - Every call has a deadline (commandTimeoutMs), and a PING on both connections notices a
 *   Redis that went silent without closing them: a late PING marks the connection unavailable;
 *   once a PING is answered in time again the pod resyncs as after a reconnect.
 */
export class StandaloneRedisConnection extends RedisConnection {
  private readonly logger = new Logger(StandaloneRedisConnection.name);
  private readonly settings: Required<RedisConnectionOptions>;
  private refusedForReplicas = 0;
  /** Durable writes and their WAITs (none with REDIS_MIN_REPLICAS=0). */
  private readonly replicaWaits: ReplicaWaits | undefined;
  private readonly command: RedisClient;
  private subscriber: RedisClient | undefined;
  /** This turn's PING of the subscriber, shared by the turn's flushes (flushChannel). */
  private readonly turnPings = new TurnShared<RedisClient>();
  private readonly channels = new Set<string>();
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
  /** Set when a call or PING missed its deadline; cleared by a PING answered in time. */
  private silent = false;
  /** The server refused a write as a read-only replica (downWhileReadOnly): down until ROLE says primary. */
  private readOnly = false;
  /** The command connection is being reopened to find REDIS_URL's primary (reopenCommand): its 'ready' is not a reconnect. */
  private reopening = false;
  /** A PING is in flight on the connection: never more than one, so a frozen Redis collects none. */
  private readonly pinging = { command: false, subscriber: false };
  private downSinceMs: number | undefined;
  private readonly onChannelMessage = (message: string, channel: string) => this.receive(message, channel);
  /** One per connection: when Redis counts as too slow on it (see `bounded`). */
  private readonly deadlines: Record<'command' | 'subscriber', RedisDeadline>;

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
      this.replicaWaits = new ReplicaWaits(minReplicas, sendWait, () => this.refusedForReplicas++);
    }
    this.command = createRedisClient(options.url, {
      connectTimeoutMs: this.settings.commandTimeoutMs,
      reconnectStrategy: (retries, cause) => this.reconnectDelay(retries, cause),
    });
    for (const channel of this.settings.channels) this.channels.add(channel);
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
    if (this.settings.downWhileReadOnly && error instanceof ErrorReply && READ_ONLY_REPLY.test(error.message)) this.markReadOnly();
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
      refusedForReplicas: this.refusedForReplicas,
    };
  }

  /** host:port of the server, for metrics (no credentials). */
  get address(): string {
    const url = new URL(this.settings.url);
    return `${url.hostname}:${url.port || '6379'}`;
  }

  async subscribe(channel: string): Promise<void> {
    const subscriber = this.subscriber;
    if (!this.isAvailable || !subscriber?.isReady) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
    this.channels.add(channel);
    try {
      await this.bounded('subscribe', subscriber.subscribe(channel, this.onChannelMessage), 'subscriber');
    } catch (error) {
      this.channels.delete(channel);
      this.dropChannel(channel);
      throw asCallError('subscribe', error);
    }
  }

  /** One subscriber holds every channel: its PING flushes them all. */
  async flushChannel(_channel?: string): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber?.isReady) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscriber PING)');
    // The flushes of one turn share a PING (TurnShared): a burst of rooms followed at once, one.
    await this.turnPings.run(subscriber, () =>
      this.bounded('subscriber PING', subscriber.ping(), 'subscriber').then(
        () => undefined,
        (error: unknown) => {
          throw asCallError('subscriber PING', error);
        },
      ),
    );
  }

  async unsubscribe(channel: string): Promise<boolean> {
    if (!this.channels.delete(channel)) return false;
    const subscriber = this.subscriber;
    // A subscriber that is down holds nothing; the next one is built without this channel.
    if (!subscriber?.isReady) return false;
    try {
      await this.bounded('unsubscribe', subscriber.unsubscribe(channel, this.onChannelMessage), 'subscriber');
    } catch (error) {
      throw asCallError('unsubscribe', error);
    }
    return true;
  }

  get channelCount(): number {
    return this.channels.size;
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
    this.channels.clear();
    this.setAvailable(false);
    if (this.abandonStart()) {
      destroyClient(this.command);
      if (this.subscriber) destroyClient(this.subscriber);
    }
    // A resync in flight finishes first (and shuts the subscriber it made, see replaceSubscriber).
    await this.resyncChain.catch(() => undefined);
    await Promise.all([this.shutClient(this.subscriber), this.shutClient(this.command)]);
    this.subscriber = undefined;
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
        await this.refuseClusterNode();
        await this.startTries.run(() => this.resync(), {
          pauseMs: (attempt) => this.backoffMs(attempt - 1),
          onRetry: (attempt, error) => this.logger.warn({ message: 'Redis start-up resync failed; trying again', attempt, error: describeError(error) }),
        });
      });
    } catch (error) {
      this.closed = true;
      clearTimeout(this.resyncTimer);
      await Promise.all([this.shutClient(this.subscriber), this.shutClient(this.command)]);
      if (error instanceof ClosedWhileStartingError) throw error;
      const cause = error instanceof Error && 'originalError' in error ? (error as { originalError: Error }).originalError : error;
      if (cause instanceof StartSettingError) throw cause;
      throw new Error(`Cannot connect to Redis at ${redactedUrl(this.settings.url)}: ${describeError(cause)}`);
    }
    // Closed during the resync: close() has shut the clients and cleared no timer yet set.
    if (this.closed) throw new ClosedWhileStartingError();
    this.healthTimer = setInterval(() => this.checkHealth(), this.settings.healthCheckMs);
    void this.warnOfTooFewReplicas();
  }

  /**
   * A Redis Cluster node reached as one server (REDIS_URL at a managed service's "cluster mode"
   * endpoint, or at one node): it serves its own slots only and answers every other key MOVED, so
   * the pod was ready while most rooms' joins answered `internal` and their publishes 500. Start-up
   * refuses it instead. A server that may not run INFO (an ACL) is let through.
   */
  private async refuseClusterNode(): Promise<void> {
    let info: string;
    try {
      info = await this.bounded('INFO cluster', this.command.info('cluster'));
    } catch (error) {
      if (error instanceof ErrorReply) return;
      throw error;
    }
    if (/^cluster_enabled:1\b/m.test(info)) {
      throw new Error('it is a Redis Cluster node (cluster_enabled:1), which serves only its own slots: give the Cluster\'s nodes in REDIS_CLUSTER_NODES instead');
    }
  }

  /**
   * REDIS_URL with REDIS_MIN_REPLICAS above the replicas the server has: valid (a replica may be
   * on its way), but every publish is refused (503) until one connects, with nothing at start-up
   * saying why. Sentinel's primaries are watched by the failover logic instead.
   */
  private async warnOfTooFewReplicas(): Promise<void> {
    const { minReplicas, downWhileReadOnly } = this.settings;
    if (minReplicas === 0 || !downWhileReadOnly) return;
    try {
      const info = await this.bounded('INFO replication', this.command.info('replication'));
      const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
      if (replicas < minReplicas) {
        this.logger.warn({
          message: `REDIS_MIN_REPLICAS is ${minReplicas} but Redis has ${replicas} connected replica(s): every publish is answered 503 until enough replicas connect`,
          url: redactedUrl(this.settings.url),
        });
      }
    } catch (error) {
      this.logger.debug({ message: 'Could not count Redis replicas', error: describeError(error) });
    }
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
        if (this.readOnly) await this.assertWritable();
        await this.loadScripts();
        await this.replaceSubscriber();
        if (this.closed) return;
        await Promise.all(this.resyncSteps.map((step) => step()));
        this.resyncFailures = 0;
        // Every step above was answered in time: Redis is not silent.
        this.silent = false;
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

  private async replaceSubscriber(): Promise<void> {
    const previous = this.subscriber;
    this.subscriber = undefined;
    await this.shutClient(previous);
    const subscriber = this.command.duplicate({
      // Never reconnects itself: a lost subscriber is replaced by the next resync.
      socket: { connectTimeout: this.settings.commandTimeoutMs, reconnectStrategy: false },
    });
    subscriber.on('error', (error: Error) => this.onSubscriberError(subscriber, error));
    try {
      await this.bounded('subscriber connect', subscriber.connect(), 'subscriber');
      const channels = [...this.channels];
      for (let index = 0; index < channels.length; index += RESUBSCRIBE_BATCH) {
        await this.bounded('resubscribe', subscriber.subscribe(channels.slice(index, index + RESUBSCRIBE_BATCH), this.onChannelMessage), 'subscriber');
      }
      // Channels left while subscribing must not stay subscribed.
      const left = channels.filter((channel) => !this.channels.has(channel));
      if (left.length > 0) await this.bounded('unsubscribe', subscriber.unsubscribe(left, this.onChannelMessage), 'subscriber');
    } catch (error) {
      await this.shutClient(subscriber);
      throw error;
    }
    // close() ran meanwhile: it could not see this subscriber, so it is shut here.
    if (this.closed) return this.shutClient(subscriber);
    this.subscriber = subscriber;
  }

  /**
   * Notices a Redis that went silent with its connections open, which node-redis never
   * reports (it waits for a reply as long as the socket lives): a PING on each connection
   * with the command deadline. A silent one marks the connection down; once the command
   * connection answers in time again the pod resyncs (a fresh subscriber, presence, catch-up)
   * as after a reconnect.
   */
  private checkHealth(): void {
    if (this.closed || !this.command.isReady) return;
    this.ping('command', this.command).then(
      (answered) => {
        if (!answered || !this.silent || this.closed) return;
        this.silent = false;
        this.logger.log({ message: 'Redis answers again; resubscribing rooms and re-registering presence', rooms: this.channels.size });
        this.scheduleResync('Redis answers again');
      },
      (error: unknown) => this.logger.debug({ message: 'Health check PING failed', connection: 'command', error: describeError(error) }),
    );
    const subscriber = this.subscriber;
    // A silent subscriber alone is replaced by the resync that follows the command connection's answer.
    if (subscriber?.isReady && this.isAvailable) {
      this.ping('subscriber', subscriber).catch((error: unknown) =>
        this.logger.debug({ message: 'Health check PING failed', connection: 'subscriber', error: describeError(error) }),
      );
    }
  }

  /** True when answered in time, false when a PING is still in flight (none is sent then). */
  private async ping(connection: 'command' | 'subscriber', client: RedisClient): Promise<boolean> {
    if (this.pinging[connection]) return false;
    this.pinging[connection] = true;
    const answer = client.ping();
    const settled = () => {
      this.pinging[connection] = false;
    };
    answer.then(settled, settled);
    try {
      await this.bounded(`PING (${connection} connection)`, answer, connection);
    } catch (error) {
      if (error instanceof DeadlineExpiredError) this.markSilent(error.operation);
      throw error;
    }
    return true;
  }

  private receive(message: string, channel: string): void {
    try {
      this.messageListener(message, channel);
    } catch (error) {
      // Thrown inside node-redis's reply parser it would break the subscriber; drop this one message.
      this.logger.error({ message: 'Could not handle a channel message', channel, error: describeError(error) });
    }
  }

  private onCommandReady(): void {
    // The first 'ready' belongs to start(), and one during reopenCommand to the resync that reopens; later ones are reconnects.
    if (!this.everConnected || this.closed || this.reopening) return;
    const downMs = this.downSinceMs === undefined ? undefined : Date.now() - this.downSinceMs;
    this.logger.log({ message: 'Redis connection restored; resubscribing rooms and re-registering presence', downMs, rooms: this.channels.size });
    this.scheduleResync('command connection restored');
  }

  private onSubscriberError(subscriber: RedisClient, error: Error): void {
    if (subscriber !== this.subscriber || this.closed) return;
    this.onClientError('subscriber', error);
    if (subscriber.isOpen) return;
    this.subscriber = undefined;
    this.markDown('subscriber connection lost');
    // With the command connection still up nothing else would notice: rebuild after a pause.
    if (this.command.isReady) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.scheduleResync('subscriber connection lost'), this.backoffMs(0));
    }
  }

  private onClientError(connection: 'command' | 'subscriber', error: Error): void {
    // A reconnect loop reports every failed attempt; the first is worth an error, the rest are noise.
    const repeated = !this.isAvailable && this.everConnected;
    const fields = { message: 'Redis connection error', connection, url: redactedUrl(this.settings.url), error: describeError(error) };
    if (repeated) this.logger.debug(fields);
    else if (this.everConnected) this.logger.error(fields);
    else this.logger.warn(fields);
    if (connection === 'command' && !this.command.isReady) this.markDown('command connection lost');
  }

  /**
   * A write was refused as READONLY: REDIS_URL's server turned replica in place (a manual role
   * swap, a managed service's failover behind a fixed address). Ready and admitting clients, the
   * pod answered every join `unavailable` and every publish 503 for as long as that lasted: it
   * counts as down (readyz 503, new connections 1013) and resyncs, with backoff, once the server
   * takes writes again.
   */
  private markReadOnly(): void {
    if (this.closed || this.readOnly) return;
    this.readOnly = true;
    this.markDown(`Redis at ${redactedUrl(this.settings.url)} refuses writes as a read-only replica`);
    this.scheduleResync('Redis turned read-only');
  }

  /**
   * During a resync after READONLY: fails (the resync is retried with backoff) until REDIS_URL
   * leads to a primary again. Asked on a new connection each time: a managed service's failover
   * moves its endpoint (a DNS name, a floating address) to the new primary, while the connection
   * we hold stays with the demoted server for as long as that server keeps it open.
   */
  private async assertWritable(): Promise<void> {
    await this.reopenCommand();
    const role = (await this.bounded('ROLE', this.command.sendCommand<unknown[]>(['ROLE']))) as unknown[];
    if (role[0] !== 'master') throw new Error(`Redis at ${redactedUrl(this.settings.url)} is still a read-only ${String(role[0])}`);
    this.readOnly = false;
  }

  /** A new command connection to REDIS_URL (its name resolved again), replacing the one held. */
  private async reopenCommand(): Promise<void> {
    this.reopening = true;
    try {
      this.command.destroy();
      const { commandTimeoutMs } = this.settings;
      await withDeadline(this.command.connect(), commandTimeoutMs, () => new DeadlineExpiredError('the connection handshake', commandTimeoutMs));
    } finally {
      this.reopening = false;
    }
  }

  /** A PING missed its deadline: Redis is stuck or gone for every caller, not just one. */
  private markSilent(operation: string): void {
    if (this.closed) return;
    this.silent = true;
    this.markDown(`Redis did not answer ${operation} within ${this.settings.commandTimeoutMs} ms`);
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
    if (!this.everConnected && cause instanceof ErrorReply && DATABASE_REFUSED.test(cause.message)) return this.databaseRefused(cause);
    if (!this.everConnected && retries + 1 >= this.settings.startupAttempts) return new Error(describeError(cause));
    return this.backoffMs(retries);
  }

  private databaseRefused(reply: ErrorReply): StartSettingError {
    const url = new URL(this.settings.url);
    return new StartSettingError(
      'REDIS_URL',
      `Redis at ${redactedUrl(this.settings.url)} answers, and refuses database ${url.pathname.slice(1)} (${reply.message}): ` +
        `set REDIS_URL's database to one the server has, 0 to 15 unless its databases setting allows more`,
    );
  }

  private backoffMs(attempt: number): number {
    return reconnectBackoffMs(attempt, this.settings);
  }

  /**
   * Every call to Redis goes through here (or `run` / `attempt`): it fails with
   * DeadlineExpiredError once its connection has answered nothing for the command deadline
   * while calls wait (RedisDeadline), not once it has waited that long itself. A burst of
   * admissions on a busy pod queues thousands of calls, and the last of them, and a PING behind
   * them, wait far longer than the deadline for a Redis that answers every one in time; failing
   * them (and marking Redis down over a late PING) would refuse connections while Redis is healthy.
   */
  private bounded<T>(operation: string, call: Promise<T>, connection: 'command' | 'subscriber' = 'command'): Promise<T> {
    return this.deadlines[connection].track(call, operation);
  }

  /** Best effort after a failed subscribe: Redis may have subscribed the channel before the failure. */
  private dropChannel(channel: string): void {
    const subscriber = this.subscriber;
    if (!subscriber?.isReady || this.channels.has(channel)) return;
    this.bounded('unsubscribe', subscriber.unsubscribe(channel, this.onChannelMessage), 'subscriber').catch((error: unknown) =>
      // The subscriber is failing too; its replacement is built without this channel.
      this.logger.debug({ message: 'Unsubscribe after failed subscribe failed', channel, error: describeError(error) }),
    );
  }

  private async shutClient(client: RedisClient | undefined): Promise<void> {
    if (!client?.isOpen) return;
    try {
      // close() waits for every pending reply, which a silent Redis never sends.
      await withDeadline(client.close(), this.settings.commandTimeoutMs, () => new DeadlineExpiredError('close', this.settings.commandTimeoutMs));
    } catch (error) {
      this.logger.debug({ message: 'Graceful Redis close failed; destroying the connection', error: describeError(error) });
      destroyClient(client);
    }
  }
}
