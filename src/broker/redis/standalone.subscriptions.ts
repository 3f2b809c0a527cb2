import type { Logger } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker';
import { RedisClient, asCallError, describeError, destroyClient, shutClient } from './redis.client';
import type { ChannelListener } from './redis.connection';
import type { RedisDeadline } from './redis-deadline';
import { TurnShared } from './turn-shared';

/** SUBSCRIBE arguments per command when resubscribing many rooms at once. */
const RESUBSCRIBE_BATCH = 500;

/** What the subscriptions read of the connection they serve, and tell it. */
export interface SubscribingConnection {
  closed(): boolean;
  /** The subscriber connection reported an error (logged as the connection's). */
  subscriberError(error: Error): void;
  /** The subscriber connection closed: calls wait for a fresh one (replace). */
  subscriberLost(): void;
}

/**
 * The channels this pod subscribes on one Redis node, and the subscriber connection that holds
 * them. It never reconnects itself: after any reconnect a fresh subscriber is built from the
 * channel list (replace), rather than trusting the client library to restore its own pub/sub
 * state. Whether a call may subscribe, and when a fresh subscriber is built, the connection
 * decides (StandaloneRedisConnection).
 */
export class StandaloneSubscriptions {
  private readonly channels = new Set<string>();
  private client: RedisClient | undefined;
  /** This turn's PING of the subscriber, shared by the turn's flushes (flush). */
  private readonly turnPings = new TurnShared<RedisClient>();

  constructor(
    /** Channels to subscribe from the start: a connection that replaces another (Sentinel failover). */
    channels: Iterable<string>,
    private readonly connection: SubscribingConnection,
    /** Every channel's listener, one function that never throws (RedisConnection.deliverMessage). */
    private readonly deliver: ChannelListener,
    /** When Redis counts as too slow on the subscriber connection (see StandaloneRedisConnection.bounded). */
    private readonly deadline: RedisDeadline,
    private readonly commandTimeoutMs: number,
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {
    for (const channel of channels) this.channels.add(channel);
  }

  get count(): number {
    return this.channels.size;
  }

  /** The subscriber connection in use, if one was built and not lost since. */
  get subscriber(): RedisClient | undefined {
    return this.client;
  }

  /** SUBSCRIBEs `channel`; no longer listed when that fails. */
  async subscribe(channel: string): Promise<void> {
    const subscriber = this.client;
    if (!subscriber?.isReady) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
    this.channels.add(channel);
    try {
      await this.bounded('subscribe', subscriber.subscribe(channel, this.deliver));
    } catch (error) {
      this.channels.delete(channel);
      this.dropChannel(channel);
      throw asCallError('subscribe', error);
    }
  }

  /** One subscriber holds every channel: its PING flushes them all. */
  async flush(): Promise<void> {
    const subscriber = this.client;
    if (!subscriber?.isReady) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscriber PING)');
    // The flushes of one turn share a PING (TurnShared): a burst of rooms followed at once, one.
    await this.turnPings.run(subscriber, () =>
      this.bounded('subscriber PING', subscriber.ping()).then(
        () => undefined,
        (error: unknown) => {
          throw asCallError('subscriber PING', error);
        },
      ),
    );
  }

  async unsubscribe(channel: string): Promise<boolean> {
    if (!this.channels.delete(channel)) return false;
    const subscriber = this.client;
    // A subscriber that is down holds nothing; the next one is built without this channel.
    if (!subscriber?.isReady) return false;
    try {
      await this.bounded('unsubscribe', subscriber.unsubscribe(channel, this.deliver));
    } catch (error) {
      throw asCallError('unsubscribe', error);
    }
    return true;
  }

  clear(): void {
    this.channels.clear();
  }

  /** Shuts the subscriber in use and builds a fresh one, from `command`, holding every channel. */
  async replace(command: RedisClient): Promise<void> {
    const previous = this.client;
    this.client = undefined;
    await shutClient(previous, this.commandTimeoutMs, this.logger);
    const subscriber = command.duplicate({
      // Never reconnects itself: a lost subscriber is replaced by the next resync.
      socket: { connectTimeout: this.commandTimeoutMs, reconnectStrategy: false },
    });
    subscriber.on('error', (error: Error) => this.onError(subscriber, error));
    try {
      await this.bounded('subscriber connect', subscriber.connect());
      const channels = [...this.channels];
      for (let index = 0; index < channels.length; index += RESUBSCRIBE_BATCH) {
        await this.bounded('resubscribe', subscriber.subscribe(channels.slice(index, index + RESUBSCRIBE_BATCH), this.deliver));
      }
      // Channels left while subscribing must not stay subscribed.
      const left = channels.filter((channel) => !this.channels.has(channel));
      if (left.length > 0) await this.bounded('unsubscribe', subscriber.unsubscribe(left, this.deliver));
    } catch (error) {
      await shutClient(subscriber, this.commandTimeoutMs, this.logger);
      throw error;
    }
    // close() ran meanwhile: it could not see this subscriber, so it is shut here.
    if (this.connection.closed()) return shutClient(subscriber, this.commandTimeoutMs, this.logger);
    this.client = subscriber;
  }

  /** Cuts the subscriber in use (a start abandoned: closing it would wait for a silent Redis). */
  destroy(): void {
    if (this.client) destroyClient(this.client);
  }

  /** Closes the subscriber in use, or destroys it when that does not end in time; none is in use after. */
  async shut(): Promise<void> {
    await shutClient(this.client, this.commandTimeoutMs, this.logger);
    this.client = undefined;
  }

  private onError(subscriber: RedisClient, error: Error): void {
    if (subscriber !== this.client || this.connection.closed()) return;
    this.connection.subscriberError(error);
    if (subscriber.isOpen) return;
    this.client = undefined;
    this.connection.subscriberLost();
  }

  /** Best effort after a failed subscribe: Redis may have subscribed the channel before the failure. */
  private dropChannel(channel: string): void {
    const subscriber = this.client;
    if (!subscriber?.isReady || this.channels.has(channel)) return;
    this.bounded('unsubscribe', subscriber.unsubscribe(channel, this.deliver)).catch((error: unknown) =>
      // The subscriber is failing too; its replacement is built without this channel.
      this.logger.debug({ message: 'Unsubscribe after failed subscribe failed', channel, error: describeError(error) }),
    );
  }

  private bounded<T>(operation: string, call: Promise<T>): Promise<T> {
    return this.deadline.track(call, operation);
  }
}
