import { Logger } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker';
import { RECONNECT_DEFAULTS, describeError, reconnectBackoffMs } from './redis.client';
import { ClosedWhileStartingError, FailoverUnderwayError, RedisCommands, RedisConnection, RedisConnectionHealth, StartSettingError } from './redis.connection';
import { SentinelFailoverWatch } from './sentinel-failover.watch';
import { SentinelSwitchWatch } from './sentinel-switch.watch';
import { SentinelAccess, describeSentinels, sentinelClient, serverUrl } from './sentinel.clients';
import { NoPrimaryNamedError, SentinelPrimaryLookup } from './sentinel.primary-lookup';
import { StartTries } from './start-tries';
import { RedisConnectionOptions, StandaloneRedisConnection } from './standalone.connection';

export interface SentinelConnectionOptions extends Omit<RedisConnectionOptions, 'url' | 'channels'>, Omit<SentinelAccess, 'commandTimeoutMs'> {
  /** How often the sentinels are asked for the primary while it cannot be reached. */
  resolveIntervalMs?: number;
}

/**
 * Redis behind Sentinel: the primary is asked of the sentinels, and this pod talks to it through
 * a StandaloneRedisConnection (so every guarantee of the one-node mode holds: deadlines, health
 * PINGs, a fresh subscriber and a catch-up after any reconnect).
 *
 * When the primary fails over, the sentinels announce `+switch-master` (and, should that be
 * missed, say so when asked while the primary is unreachable): the connection to the old
 * primary is closed and one to the new primary is built with every channel of this pod, so its
 * first resync subscribes them all, re-registers presence, turns available and has each room
 * catch up from history (or told `recovery` when it cannot prove continuity).
 *
 * This class decides which primary the pod serves from and when it follows another; its parts
 * each keep one concern: asking the sentinels and a server's ROLE (SentinelPrimaryLookup), the
 * `+switch-master` listener (SentinelSwitchWatch), the failovers a sentinel leads
 * (SentinelFailoverWatch), and the clients and URLs of the set (sentinel.clients.ts).
 */
export class SentinelRedisConnection extends RedisConnection {
  private readonly logger = new Logger(SentinelRedisConnection.name);
  private readonly settings: SentinelConnectionOptions & Required<Pick<SentinelConnectionOptions, 'commandTimeoutMs' | 'resolveIntervalMs' | 'reconnectMinDelayMs' | 'reconnectMaxDelayMs' | 'startupAttempts'>>;
  private current: StandaloneRedisConnection | undefined;
  /** The start's tries (see start). */
  private readonly startTries: StartTries;
  private address = '';
  private readonly channels = new Set<string>();
  private wasAvailable = false;
  private closed = false;
  private switching: Promise<void> = Promise.resolve();
  private failoverCount = 0;
  /** The primary this pod last served from: a failover is counted once it serves from another. */
  private served = '';
  private checks = 0;
  /** A question to the sentinels is in flight: never more than one. */
  private resolving = false;
  /** How many times this pod moved to another primary: a look begun before the last move is stale. */
  private moves = 0;
  private readonly lookup: SentinelPrimaryLookup;
  private readonly switchWatch: SentinelSwitchWatch;
  private resolveTimer: NodeJS.Timeout | undefined;
  /** Failovers the sentinels lead, when publishes wait for replicas (REDIS_MIN_REPLICAS). */
  private readonly failovers: SentinelFailoverWatch | undefined;

  constructor(options: SentinelConnectionOptions) {
    super();
    const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.settings = { ...RECONNECT_DEFAULTS, ...options, commandTimeoutMs, resolveIntervalMs: options.resolveIntervalMs ?? Math.max(100, Math.floor(commandTimeoutMs / 2)) };
    this.startTries = new StartTries(this.settings.startupAttempts);
    this.lookup = new SentinelPrimaryLookup(this.settings, {
      closed: () => this.closed,
      servesFrom: (server) => server === this.address && this.current?.available === true,
    });
    this.switchWatch = new SentinelSwitchWatch(
      this.settings,
      this.settings.resolveIntervalMs,
      { closed: () => this.closed, announced: (primary) => this.follow(primary, '+switch-master', true) },
      this.logger,
    );
    if ((options.minReplicas ?? 0) > 0) this.failovers = new SentinelFailoverWatch(options.masterName, Math.max(10_000, 10 * commandTimeoutMs));
  }

  get available(): boolean {
    return this.current?.available ?? false;
  }

  run<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    return this.primary().run(operation, command);
  }

  attempt<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    return this.primary().attempt(operation, command);
  }

  /**
   * A write acknowledged by REDIS_MIN_REPLICAS replicas, unless a sentinel is switching the
   * primary (SentinelFailoverWatch): refused then, and not acknowledged when a switch began while
   * it waited for its replicas (one that acknowledged it may be about to resync and lose it).
   */
  async runReplicated<T>(operation: string, key: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    const failovers = this.failovers;
    if (failovers?.switching) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation}: a sentinel is switching the primary)`);
    const generation = failovers?.generation;
    const reply = await this.primary().runReplicated(operation, key, command);
    if (failovers && failovers.generation !== generation) throw new FailoverUnderwayError(operation);
    return reply;
  }

  get health(): RedisConnectionHealth {
    const current = this.current?.health;
    return {
      shards: [{ shard: this.address, up: current?.shards[0]?.up ?? false }],
      failovers: this.failoverCount,
    };
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    try {
      await this.primary().subscribe(channel);
    } catch (error) {
      this.channels.delete(channel);
      throw error;
    }
  }

  async unsubscribe(channel: string): Promise<boolean> {
    if (!this.channels.delete(channel)) return false;
    return this.primary().unsubscribe(channel);
  }

  flushChannel(channel: string): Promise<void> {
    return this.primary().flushChannel(channel);
  }

  get channelCount(): number {
    return this.channels.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.startTries.close();
    clearInterval(this.resolveTimer);
    this.lookup.close();
    await this.switching.catch(() => undefined);
    this.switchWatch.close();
    this.failovers?.close();
    this.channels.clear();
    await this.current?.close();
    this.report(false);
  }

  /**
   * Finds the primary and connects to it, up to `startupAttempts` times as the one-server mode
   * tries its connect, pausing as a reconnect does between tries. In one try, sentinels that
   * restart with the pods (a release rolled out at once), or a primary or sentinels answering
   * slowly on a busy node, failed the start at the first look, where the other modes wait a few
   * seconds.
   */
  protected async start(): Promise<void> {
    try {
      await this.startTries.run(() => this.startOnce(), {
        pauseMs: (attempt) => reconnectBackoffMs(attempt - 1, this.settings),
        // A refused password: no later try mends it. An unknown master name may still be a
        // sentinel starting (asked again), as a sentinel that answers nothing is.
        isFinal: (error) => error instanceof StartSettingError && error.setting === 'REDIS_PASSWORD',
        onRetry: (attempt, error) => this.logger.warn({ message: 'Could not reach the Redis primary through Sentinel yet; trying again', master: this.settings.masterName, attempt, error: describeError(error) }),
      });
    } catch (error) {
      this.closed = true;
      throw error;
    }
    this.served = this.address;
    this.switchWatch.watch();
    this.failovers?.watch(this.settings.sentinels.map((sentinel) => sentinelClient(this.settings, sentinel, true)));
    this.resolveTimer = setInterval(() => this.checkPrimary(), this.settings.resolveIntervalMs);
    this.logger.log({ message: 'Following the Redis primary through Sentinel', master: this.settings.masterName, primary: this.address });
  }

  /** One try of the start: the primary the sentinels name, then a connection to it. */
  private async startOnce(): Promise<void> {
    let primary: string;
    try {
      primary = await this.lookup.resolve();
    } catch (error) {
      // close() drops a look's questions: that is no answer about the sentinels.
      if (this.closed) throw new ClosedWhileStartingError();
      const message = `Cannot find the primary ${this.settings.masterName} through the sentinels ${describeSentinels(this.settings.sentinels)}: ${describeError(error)}`;
      // Every sentinel answered, none knows the name: the name is what is wrong, not the list.
      throw error instanceof NoPrimaryNamedError && error.unknownToAll ? new StartSettingError('REDIS_SENTINEL_MASTER', message) : new Error(message);
    }
    // Closed while asking (a pod stopped during its start): close() found no connection to close.
    if (this.closed) throw new ClosedWhileStartingError();
    this.address = primary;
    const connection = this.connectionTo(primary);
    this.current = connection;
    try {
      await connection.connect();
    } catch (error) {
      // Its own start closed its clients; the next try builds another.
      if (this.current === connection) this.current = undefined;
      // The sentinels were found and named the primary: a refused password is REDIS_PASSWORD's.
      if (error instanceof Error && AUTH_REFUSED.test(error.message)) throw new StartSettingError('REDIS_PASSWORD', error.message);
      throw error;
    }
    // Closed while connecting: close() closed the connection; no watch or timer may start now.
    if (this.closed) throw new ClosedWhileStartingError();
  }

  private primary(): StandaloneRedisConnection {
    if (!this.current) throw new BrokerUnavailableError('The message broker is unreachable (no Redis primary found through Sentinel yet)');
    return this.current;
  }

  /**
   * Asks the sentinels which server is primary: at every tick while the primary cannot be
   * reached, and every tenth otherwise, in case a `+switch-master` was missed (a demoted primary
   * still answers, with READONLY to writes).
   */
  private checkPrimary(now = false): void {
    this.checks++;
    if (this.closed || this.resolving || (!now && this.current?.available && this.checks % 10 !== 0)) return;
    this.resolving = true;
    const movesBefore = this.moves;
    this.lookup
      .resolve()
      .then(
        (primary) => this.follow(primary, 'sentinels name another primary', false, movesBefore),
        (error: unknown) => this.logger.debug({ message: 'Could not ask the sentinels for the primary', error: describeError(error) }),
      )
      .finally(() => {
        this.resolving = false;
      });
  }

  /**
   * Moves every channel and seam to the new primary; one switch at a time, in order. One
   * sentinel's `+switch-master` (`announced`) is its word alone: followed once the server says
   * it is the primary (ROLE). Followed blindly, one naming a replica held the pod on it, ready,
   * every write refused, until the next look some ten seconds later; now the sentinels are asked.
   * A look at the sentinels begun before this pod last moved (`movesBefore`) is not followed: its
   * votes predate that move. One in flight during a failover, answered after `+switch-master` had
   * been followed, took the old primary (awake again, still saying master until the sentinels
   * demote it) and moved the pod back to it, where it served from a deposed primary until the
   * next look, some ten seconds later (a probe's Sentinel runs, 2 of 3).
   */
  private follow(primary: string, reason: string, announced = false, movesBefore?: number): void {
    this.switching = this.switching.then(async () => {
      if (this.closed || primary === this.address) return;
      if (movesBefore !== undefined && movesBefore !== this.moves) return;
      if (announced && !(await this.lookup.saysPrimary(primary))) {
        this.logger.warn({ message: 'A sentinel announced a primary that is not one; asking the sentinels', primary, reason });
        return this.checkPrimary(true);
      }
      this.logger.warn({ message: 'Redis primary changed; following it', from: this.address, to: primary, reason });
      const previous = this.current;
      this.moves++;
      this.address = primary;
      this.current = this.connectionTo(primary);
      this.report(false);
      if (previous) {
        await previous.close().catch((error: unknown) => this.logger.debug({ message: 'Closing the old primary failed', error: describeError(error) }));
      }
      try {
        await this.current.connect();
        if (primary !== this.served) this.failoverCount++;
        this.served = primary;
        this.failovers?.ended();
      } catch (error) {
        // Not ready yet (still promoting): the next check asks the sentinels again and retries.
        this.logger.warn({ message: 'Could not connect to the new Redis primary yet', primary, error: describeError(error) });
        this.address = '';
      }
    });
  }

  private connectionTo(primary: string): StandaloneRedisConnection {
    const connection = new StandaloneRedisConnection({
      ...this.settings,
      url: serverUrl(this.settings, primary),
      channels: this.channels,
      // A failed start is retried here with whatever primary the sentinels name then.
      startupAttempts: 2,
    });
    connection.onMessage((message, channel) => {
      if (connection === this.current) this.messageListener(message, channel);
    });
    connection.onAvailabilityChange((available) => {
      if (connection === this.current) this.report(available);
    });
    for (const step of this.resyncSteps) connection.onResync(step);
    for (const listener of this.resyncedListeners) connection.onResynced(listener);
    return connection;
  }

  private report(available: boolean): void {
    if (available === this.wasAvailable) return;
    this.wasAvailable = available;
    this.notifyAvailability(available);
  }
}

/** Redis refused the password (or wanted one): WRONGPASS, NOAUTH. */
const AUTH_REFUSED = /\b(WRONGPASS|NOAUTH)\b/;
