import { Logger } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker';
import type { EngineHealth } from '../engine';
import { describeError, type RedisClient } from './redis.client';
import { REDIS_SCRIPTS } from './redis.scripts';

/** What the seams may call on Redis: their scripts and PUBLISH, nothing that assumes one node. */
export type RedisCommands = Pick<RedisClient, keyof typeof REDIS_SCRIPTS | 'publish'>;

/** Receives every message of every subscribed channel. */
export type ChannelListener = (message: string, channel: string) => void;

/**
 * How Herald's Redis seams (RedisBroker, RedisPresenceStore, RedisInboxStore) reach Redis,
 * whatever the deployment: each connection mode (one node, a Cluster with sharded pub/sub,
 * Sentinel) is an implementation of this class, and the seams never see a client's lifecycle.
 *
 * Contract:
 * - Every call is bounded by REDIS_COMMAND_TIMEOUT_MS; `run` fails with BrokerUnavailableError
 *   when Redis is down, the call fails for a transient reason, or the deadline passes. A Redis
 *   error reply about the command itself is rethrown as is.
 * - Health: the connection notices a Redis that stopped answering with its sockets open (a
 *   PING on each connection) and reports availability changes once each. Where Redis has
 *   parts that fail apart (a Cluster's primaries), one silent part does not make the connection
 *   unavailable: it reports that part's channels (onChannelsSilent).
 * - Subscriptions are the connection's state: after any reconnect or replaced subscriber it
 *   subscribes every channel again, runs each `onResync` step, turns available, then tells
 *   `onResynced` listeners, which catch up on what they may have missed meanwhile.
 * - Keys of one room share a hash tag (redis-keys.ts), so each script touches one slot.
 */
export abstract class RedisConnection {
  /*
   * The listener registries and the start-up memo are the same in every mode; only how a mode
   * reaches Redis differs (the abstract members below).
   */
  private readonly listenerLogger = new Logger(RedisConnection.name);
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private readonly silentChannelsListeners: ((silent: (channel: string) => boolean) => void)[] = [];
  protected readonly resyncSteps: (() => Promise<void>)[] = [];
  protected readonly resyncedListeners: (() => void)[] = [];
  protected messageListener: ChannelListener = () => undefined;
  private connecting: Promise<void> | undefined;

  abstract get available(): boolean;

  onAvailabilityChange(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  /**
   * Told when a part of Redis stops answering while the rest serves (a Cluster primary), with
   * which channels it carried. The connection stays available: calls that reach the silent part
   * fail within REDIS_COMMAND_TIMEOUT_MS, the others go on. Once every part answers again (or
   * a replica took over) the connection resyncs as after any disturbance (onResynced).
   */
  onChannelsSilent(listener: (silent: (channel: string) => boolean) => void): void {
    this.silentChannelsListeners.push(listener);
  }

  /**
   * Told of an error Redis answered, including one a script answered for a single item (a
   * group's publish), which no call of this connection saw fail: a mode may read Redis's state
   * from it (StandaloneRedisConnection: READONLY).
   */
  noticeErrorReply(_error: unknown): void {
    // Nothing by default.
  }

  /** Runs a command for a caller: fails at once with BrokerUnavailableError while Redis is down. */
  async run<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    if (!this.available) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation})`);
    return this.attempt(operation, command);
  }
  /**
   * Runs a command for the engine's own upkeep (a resync step, a subscribe's anchor, close):
   * bounded like `run`, but tried whenever the command connection is up, even before the
   * connection reports available again.
   */
  abstract attempt<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T>;

  /**
   * Runs a write that must survive a failover: on the primary that owns `key`, then WAIT there
   * until REDIS_MIN_REPLICAS replicas acknowledged it, at most REDIS_REPLICA_WAIT_MS. Fewer
   * acknowledgements reject with ReplicasUnavailableError (503): the write may still be on the
   * primary, so the caller's retry must be idempotent.
   */
  abstract runReplicated<T>(operation: string, key: string, command: (redis: RedisCommands) => Promise<T>): Promise<T>;

  /** What metrics show of the connection: failovers seen, refusals, each shard's subscriber. */
  abstract get health(): RedisConnectionHealth;

  /**
   * False when the part of Redis that holds `key` is known not to answer (a silent Cluster
   * primary, see onChannelsSilent): a call there would only wait for its deadline. True
   * otherwise, which promises nothing: the call is bounded as always.
   */
  answersFor(key: string): boolean {
    void key;
    return true;
  }

  /** Registers the one listener of channel messages; a listener that throws loses that message only. */
  onMessage(listener: ChannelListener): void {
    this.messageListener = listener;
  }

  /**
   * Every mode's subscriptions give node-redis this, one function for every channel (unsubscribe
   * names it too): the listener registered when the message arrives, with what it throws logged.
   * A throw reaching node-redis's reply parser resets it, dropping every message after that one
   * in the same read from the socket.
   */
  protected readonly deliverMessage: ChannelListener = (message, channel) => {
    try {
      this.messageListener(message, channel);
    } catch (error) {
      this.listenerLogger.error({ message: 'Could not handle a channel message', channel, error: describeError(error) });
    }
  };

  /** Subscribes a channel; BrokerUnavailableError when the subscriber is down or late. */
  abstract subscribe(channel: string): Promise<void>;
  /**
   * Unsubscribes a channel. Resolves false when no subscriber was up (the next one is built
   * without the channel), true once Redis confirmed it.
   */
  abstract unsubscribe(channel: string): Promise<boolean>;
  /**
   * Resolves once every message published on a subscribed `channel` before this call has reached
   * the message listener: a PING on the connection that receives the channel, whose reply Redis
   * sends after them. A read on the command connection can see a publication whose message is
   * still on its way on the subscriber's; awaited after such a read, this makes the two agree.
   */
  abstract flushChannel(channel: string): Promise<void>;
  /** Channels subscribed now (the pod's rooms). */
  abstract get channelCount(): number;

  /** A step of every resync, run before the connection reports available (e.g. re-register presence). */
  onResync(step: () => Promise<void>): void {
    this.resyncSteps.push(step);
  }
  /** Told after every resync that made the connection available (e.g. catch up each room). */
  onResynced(listener: () => void): void {
    this.resyncedListeners.push(listener);
  }

  /** Connects (once, however often called); rejects with a message naming the password-free address when it cannot. */
  connect(): Promise<void> {
    this.connecting ??= this.start();
    return this.connecting;
  }

  /** The mode's own connecting, run by the first `connect()`. */
  protected abstract start(): Promise<void>;

  /** While a start's steps run (abandonable): ends them at once (abandonStart). */
  private abandon: ((error: Error) => void) | undefined;

  /**
   * Runs a start's steps, given up at once by abandonStart (close() while starting: the pod
   * was stopped then). A step waiting on a silent Redis may never settle on its own
   * (node-redis's connect() during a handshake), and waiting for its deadlines held the stop for
   * the whole start-up budget.
   */
  protected async abandonable(steps: () => Promise<void>): Promise<void> {
    const abandoned = new Promise<never>((_, reject) => (this.abandon = reject));
    const stepping = steps();
    // Given up, its outcome is no one's.
    stepping.catch(() => undefined);
    try {
      await Promise.race([stepping, abandoned]);
    } finally {
      this.abandon = undefined;
    }
  }

  /** Ends the start's steps under way with ClosedWhileStartingError; true when there were some (cut the connections then). */
  protected abandonStart(): boolean {
    const abandon = this.abandon;
    this.abandon = undefined;
    abandon?.(new ClosedWhileStartingError());
    return abandon !== undefined;
  }

  /** Tells every availability listener; a listener that throws is logged and the rest still hear. */
  protected notifyAvailability(available: boolean): void {
    for (const listener of this.availabilityListeners) {
      try {
        listener(available);
      } catch (error) {
        this.listenerLogger.error({ message: 'Availability listener failed', error: describeError(error) });
      }
    }
  }

  /** Tells every `onChannelsSilent` listener; a listener that throws is logged and the rest still hear. */
  protected notifyChannelsSilent(silent: (channel: string) => boolean): void {
    for (const listener of this.silentChannelsListeners) {
      try {
        listener(silent);
      } catch (error) {
        this.listenerLogger.error({ message: 'Silent-channels listener failed', error: describeError(error) });
      }
    }
  }

  /** Tells every `onResynced` listener, after a resync made the connection available. */
  protected notifyResynced(): void {
    for (const listener of this.resyncedListeners) {
      try {
        listener();
      } catch (error) {
        this.listenerLogger.error({ message: 'Resync listener failed', error: describeError(error) });
      }
    }
  }
  abstract close(): Promise<void>;
}

/** The engine's health comes from its connection. */
export type RedisConnectionHealth = EngineHealth;

/**
 * close() came while the connection was starting (a pod stopped during its start-up): the start
 * stops at its next step and starts no watch or timer that close() would not have cleared.
 */
export class ClosedWhileStartingError extends Error {
  constructor() {
    super('The Redis connection was closed while it started');
  }
}

/**
 * A failed start that a setting other than the mode's address list explains: the start-up error
 * names it (REDIS_SENTINEL_MASTER that no sentinel knows, a REDIS_PASSWORD Redis refuses), where
 * it named REDIS_SENTINELS whatever went wrong.
 */
export class StartSettingError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartSettingError';
  }
}

/** A write fewer replicas acknowledged than REDIS_MIN_REPLICAS asks: answered as unavailable (503). */
export class ReplicasUnavailableError extends BrokerUnavailableError {
  override readonly mayHaveApplied = true;
  override readonly forWantOfReplicas = true;
  override readonly unconfirmedBecause = 'fewer replicas than REDIS_MIN_REPLICAS acknowledged it in time';

  constructor(operation: string, acknowledged: number, wanted: number) {
    super(`The message broker could not replicate the ${operation} (${acknowledged} of ${wanted} replicas acknowledged in time)`);
    this.name = 'ReplicasUnavailableError';
  }
}

/**
 * A write that was waiting for its replicas when a sentinel began switching the primary: the
 * replicas that acknowledged it may resync from the new primary and lose it, so it is not
 * acknowledged (503); it may have been stored and delivered all the same.
 */
export class FailoverUnderwayError extends BrokerUnavailableError {
  override readonly mayHaveApplied = true;
  override readonly unconfirmedBecause = 'a failover began while it waited for its replicas';

  constructor(operation: string) {
    super(`The message broker could not confirm the ${operation}: a sentinel began switching the primary while it waited for its replicas`);
    this.name = 'FailoverUnderwayError';
  }
}
