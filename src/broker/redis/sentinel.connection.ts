import { Logger } from '@nestjs/common';
import { ErrorReply } from 'redis';
import { BrokerUnavailableError } from '../broker';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { PlainClientOptions, PlainRedisClient, RECONNECT_DEFAULTS, createPlainRedisClient, describeError, destroyClient, reconnectBackoffMs } from './redis.client';
import { ClosedWhileStartingError, FailoverUnderwayError, RedisCommands, RedisConnection, RedisConnectionHealth, StartSettingError } from './redis.connection';
import { PrimaryVotes } from './primary-votes';
import { SentinelFailoverWatch } from './sentinel-failover.watch';
import { StartTries } from './start-tries';
import { RedisConnectionOptions, StandaloneRedisConnection } from './standalone.connection';

export interface SentinelConnectionOptions extends Omit<RedisConnectionOptions, 'url' | 'channels'> {
  sentinels: Array<{ host: string; port: number }>;
  masterName: string;
  /** Credentials of the Redis servers. */
  username?: string;
  password?: string;
  /** The sentinels' own credentials, when they require them. */
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls?: boolean;
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
  /** Refusals counted by connections already replaced. */
  private refusedBefore = 0;
  private watcher: PlainRedisClient | undefined;
  /** The clients of each look for the primary under way (resolvePrimary), to destroy when it settles or this closes. */
  private readonly looks = new Set<Set<PlainRedisClient>>();
  private watchedSentinel = 0;
  private watchTimer: NodeJS.Timeout | undefined;
  private resolveTimer: NodeJS.Timeout | undefined;
  /** Failovers the sentinels lead, when publishes wait for replicas (REDIS_MIN_REPLICAS). */
  private readonly failovers: SentinelFailoverWatch | undefined;

  constructor(options: SentinelConnectionOptions) {
    super();
    const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.settings = { ...RECONNECT_DEFAULTS, ...options, commandTimeoutMs, resolveIntervalMs: options.resolveIntervalMs ?? Math.max(100, Math.floor(commandTimeoutMs / 2)) };
    this.startTries = new StartTries(this.settings.startupAttempts);
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
      refusedForReplicas: this.refusedBefore + (current?.refusedForReplicas ?? 0),
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
    clearTimeout(this.watchTimer);
    clearInterval(this.resolveTimer);
    for (const look of this.looks) for (const client of look) destroyClient(client);
    await this.switching.catch(() => undefined);
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher?.isOpen) destroyClient(watcher);
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
    this.watch();
    this.failovers?.watch(this.settings.sentinels.map((sentinel) => this.sentinelClient(sentinel, true)));
    this.resolveTimer = setInterval(() => this.checkPrimary(), this.settings.resolveIntervalMs);
    this.logger.log({ message: 'Following the Redis primary through Sentinel', master: this.settings.masterName, primary: this.address });
  }

  /** One try of the start: the primary the sentinels name, then a connection to it. */
  private async startOnce(): Promise<void> {
    let primary: string;
    try {
      primary = await this.resolvePrimary();
    } catch (error) {
      // close() drops a look's questions: that is no answer about the sentinels.
      if (this.closed) throw new ClosedWhileStartingError();
      const message = `Cannot find the primary ${this.settings.masterName} through the sentinels ${this.describeSentinels()}: ${describeError(error)}`;
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
    this.resolvePrimary()
      .then(
        (primary) => this.follow(primary, 'sentinels name another primary'),
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
   */
  private follow(primary: string, reason: string, announced = false): void {
    this.switching = this.switching.then(async () => {
      if (this.closed || primary === this.address) return;
      if (announced && !(await this.saysPrimary(primary))) {
        this.logger.warn({ message: 'A sentinel announced a primary that is not one; asking the sentinels', primary, reason });
        return this.checkPrimary(true);
      }
      this.logger.warn({ message: 'Redis primary changed; following it', from: this.address, to: primary, reason });
      const previous = this.current;
      this.address = primary;
      this.current = this.connectionTo(primary);
      this.report(false);
      if (previous) {
        this.refusedBefore += previous.health.refusedForReplicas;
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

  /** The URL of a Redis server of this set, with its credentials. */
  private urlOf(address: string): string {
    const { username, password, tls } = this.settings;
    const credentials = username === undefined && password === undefined ? '' : `${encodeURIComponent(username ?? '')}:${encodeURIComponent(password ?? '')}@`;
    return `${tls ? 'rediss' : 'redis'}://${credentials}${address}`;
  }

  private connectionTo(primary: string): StandaloneRedisConnection {
    const connection = new StandaloneRedisConnection({
      ...this.settings,
      url: this.urlOf(primary),
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

  /**
   * `host:port` of the primary: the server most sentinels name, once its ROLE says it is primary
   * (Sentinel's client guidelines: ask, then check ROLE; weighed in PrimaryVotes). A sentinel that
   * has not caught up with a failover names the old primary: down or now a replica, it is passed
   * over; cut off with a minority and still taking writes, it is outvoted. Taken as the first
   * answer that checked out, that old primary held this pod, and the current server taken without
   * a vote kept it there, while the other pods served from the new one. The server this pod serves
   * from, while it answers, is not asked its ROLE again, but needs the votes all the same.
   *
   * Every sentinel is asked at once, and a strict majority naming one server that checks out
   * settles the look: asked in turn, a sentinel that takes connections but never answers (a frozen
   * process, a black-holed host) held each look for REDIS_COMMAND_TIMEOUT_MS before the next was
   * asked, at start and while following a failover. Without such a majority the look waits for
   * every answer (each within REDIS_COMMAND_TIMEOUT_MS). Once a look is settled, its questions
   * still open are dropped.
   */
  private resolvePrimary(): Promise<string> {
    const look = new Set<PlainRedisClient>();
    this.looks.add(look);
    const { sentinels, masterName } = this.settings;
    const votes = new PrimaryVotes(sentinels.map(({ host, port }) => `${host}:${port}`));
    /** Each server is asked once per look: several sentinels naming one that is down cost one connect timeout. */
    const checked = new Set<string>();
    const answer = new Promise<string>((resolve, reject) => {
      const settle = () => {
        const outcome = votes.outcome();
        if (outcome === undefined) return;
        // Failures in the sentinels' order, whichever answered first, so the start's error reads the same every time.
        if ('primary' in outcome) resolve(outcome.primary);
        else reject(new NoPrimaryNamedError(outcome.failures, outcome.failures.every((failure) => failure.endsWith(` does not know ${masterName}`))));
      };
      const check = (server: string) => {
        if (checked.has(server)) return;
        checked.add(server);
        // It answers this pod's commands: a ROLE of its own would say no more.
        if (server === this.address && this.current?.available) return votes.confirmed(server);
        void this.roleOf(server, look).then((role) => {
          if (role === 'master' || role === undefined) votes.confirmed(server);
          else votes.refuted(server, role);
          settle();
        });
      };
      sentinels.forEach((sentinel, index) => {
        const where = `${sentinel.host}:${sentinel.port}`;
        this.primaryNamedBy(sentinel, look).then(
          (named) => {
            if (named === null) votes.failed(index, `${where} does not know ${masterName}`);
            else {
              votes.named(index, named);
              check(named);
            }
            settle();
          },
          (error: unknown) => {
            votes.failed(index, `${where}: ${describeError(error)}`);
            settle();
          },
        );
      });
    });
    return answer.finally(() => {
      this.looks.delete(look);
      for (const client of look) destroyClient(client);
    });
  }

  /** The address one sentinel gives for the primary, or null when it does not know it. */
  private async primaryNamedBy(sentinel: { host: string; port: number }, look: Set<PlainRedisClient>): Promise<string | null> {
    const reply = await this.askOnce<[string, string] | null>(this.sentinelClient(sentinel), ['SENTINEL', 'get-master-addr-by-name', this.settings.masterName], look);
    return reply && reply.length === 2 ? `${reply[0].includes(':') ? `[${reply[0]}]` : reply[0]}:${reply[1]}` : null;
  }

  /** Whether `address` says it is a primary (or may not say: see roleOf), asked on a connection of its own. */
  private async saysPrimary(address: string): Promise<boolean> {
    const look = new Set<PlainRedisClient>();
    this.looks.add(look);
    try {
      const role = await this.roleOf(address, look);
      return role === 'master' || role === undefined;
    } finally {
      this.looks.delete(look);
      for (const client of look) destroyClient(client);
    }
  }

  /**
   * What a server says it is (ROLE: `master`, `slave`), `unreachable` when it does not answer
   * in time, or undefined when it answers with an error (an ACL user that may not run ROLE): then
   * the sentinel is believed, as before this check. Never rejected: its look waits for it.
   */
  private async roleOf(address: string, look: Set<PlainRedisClient>): Promise<string | undefined> {
    try {
      const client = createPlainRedisClient({ url: this.urlOf(address), disableOfflineQueue: true, socket: { connectTimeout: this.settings.commandTimeoutMs, reconnectStrategy: false } });
      return String((await this.askOnce<unknown[]>(client, ['ROLE'], look))[0]);
    } catch (error) {
      return error instanceof ErrorReply ? undefined : `unreachable (${describeError(error)})`;
    }
  }

  /**
   * One command on a client of its own, connected for it and destroyed after, each step within
   * REDIS_COMMAND_TIMEOUT_MS. The client belongs to its look until then, which destroys it when
   * settled first, as close() does.
   */
  private async askOnce<T>(client: PlainRedisClient, command: string[], look: Set<PlainRedisClient>): Promise<T> {
    const timeoutMs = this.settings.commandTimeoutMs;
    client.on('error', () => undefined); // Reported through the failed connect or command below.
    // A look settled (or a connection closed) meanwhile opens nothing more.
    if (this.closed || !this.looks.has(look)) throw new Error('no longer needed: the look for the primary is over');
    look.add(client);
    try {
      await withDeadline(client.connect(), timeoutMs, () => new DeadlineExpiredError(`connect for ${command[0]}`, timeoutMs));
      return await withDeadline(client.sendCommand<T>(command), timeoutMs, () => new DeadlineExpiredError(command.slice(0, 2).join(' '), timeoutMs));
    } finally {
      look.delete(client);
      destroyClient(client);
    }
  }

  /** Listens for `+switch-master` on one sentinel at a time, moving to the next when it is lost. */
  private watch(): void {
    if (this.closed) return;
    const sentinel = this.settings.sentinels[this.watchedSentinel % this.settings.sentinels.length];
    const watcher = this.sentinelClient(sentinel, false);
    this.watcher = watcher;
    const retry = () => {
      if (this.closed || this.watcher !== watcher) return;
      this.watcher = undefined;
      destroyClient(watcher);
      this.watchedSentinel++;
      this.watchTimer = setTimeout(() => this.watch(), this.settings.resolveIntervalMs);
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
          if (name === this.settings.masterName) this.follow(`${host.includes(':') ? `[${host}]` : host}:${port}`, '+switch-master', true);
        }),
      )
      .catch(retry);
  }

  private sentinelClient(sentinel: { host: string; port: number }, reconnect = false): PlainRedisClient {
    return createPlainRedisClient({
      username: this.settings.sentinelUsername,
      password: this.settings.sentinelPassword,
      disableOfflineQueue: true,
      socket: { host: sentinel.host, port: sentinel.port, tls: this.settings.tls === true, connectTimeout: this.settings.commandTimeoutMs, reconnectStrategy: reconnect ? undefined : false },
    } as PlainClientOptions);
  }

  private describeSentinels(): string {
    return this.settings.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  }
}

/** Redis refused the password (or wanted one): WRONGPASS, NOAUTH. */
const AUTH_REFUSED = /\b(WRONGPASS|NOAUTH)\b/;

/** No sentinel named a primary that checks out; `unknownToAll`: each answered that it does not know the name. */
class NoPrimaryNamedError extends Error {
  constructor(
    failures: string[],
    readonly unknownToAll: boolean,
  ) {
    super(failures.join('; '));
    this.name = 'NoPrimaryNamedError';
  }
}
