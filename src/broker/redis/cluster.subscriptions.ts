import { Logger } from '@nestjs/common';
import { NodeClient, boundedCall, primaryFor } from './cluster.client';
import type { ClusterDiscovery } from './cluster.discovery';
import { REDIRECTED } from './cluster.replies';
import { asCallError, describeError } from './redis.client';
import type { ChannelListener } from './redis.connection';
import { SlotOwners } from './slot-owners';
import { TurnShared } from './turn-shared';

/**
 * The channels this pod subscribes on a Cluster (sharded pub/sub: SSUBSCRIBE on the primary
 * that owns each channel's slot, through the cluster client in use), and the primary each was
 * subscribed at. Whether a call may subscribe, and when every channel is subscribed again, the
 * connection decides (ClusterRedisConnection).
 */
export class ClusterSubscriptions {
  /** Each subscribed channel and the primary that served its slot when it was last SSUBSCRIBEd. */
  private readonly channels = new Map<string, string | undefined>();
  /** Each slot's primary when the subscribed channels were last compared with the slot map (moved). */
  private readonly slotOwners = new SlotOwners();
  /** This turn's PING of each subscriber, shared by the turn's flushes (flush). */
  private readonly turnPings = new TurnShared<NodeClient>();

  constructor(
    private readonly discovery: ClusterDiscovery,
    /** Every channel's listener, one function that never throws (RedisConnection.deliverMessage). */
    private readonly deliver: ChannelListener,
    private readonly commandTimeoutMs: number,
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {}

  get count(): number {
    return this.channels.size;
  }

  /** The primary `channel` was last subscribed at (undefined too when it is not subscribed). */
  subscribedAt(channel: string): string | undefined {
    return this.channels.get(channel);
  }

  /**
   * SSUBSCRIBEs `channel`, listed at `owner` (its slot's primary now); no longer listed when that
   * fails, and SUNSUBSCRIBEd after it: an SSUBSCRIBE that timed out on a primary gone silent
   * stays written on its subscriber and runs when the primary wakes, so without the SUNSUBSCRIBE
   * queued behind it the channel stayed subscribed there (and node-redis kept its listener and
   * the subscriber connection) though no room held it.
   */
  async subscribe(channel: string, owner: string | undefined): Promise<void> {
    this.channels.set(channel, owner);
    try {
      await this.bounded('subscribe', this.discovery.cluster.sSubscribe(channel, this.deliver));
    } catch (error) {
      this.channels.delete(channel);
      this.dropChannel(channel);
      throw error;
    }
  }

  /** Lists `channel` no more; false when it was not listed. Its SUNSUBSCRIBE is `unsubscribe`. */
  forget(channel: string): boolean {
    return this.channels.delete(channel);
  }

  /** SUNSUBSCRIBEs a channel `forget` dropped. */
  async unsubscribe(channel: string): Promise<void> {
    await this.bounded('unsubscribe', this.discovery.cluster.sUnsubscribe(channel, this.deliver));
  }

  /** The sharded subscriber of the primary serving the channel's slot, if node-redis has made one. */
  subscriberOf(channel: string): NodeClient | undefined {
    const master = primaryFor(this.discovery.cluster, channel) as { pubSub?: { client?: NodeClient } } | undefined;
    return master?.pubSub?.client;
  }

  /**
   * PINGs `subscriber`: its reply comes after every message published before. Flushes asked of
   * one subscriber in one turn share a PING (TurnShared), so the anchor reads of a burst of
   * admissions, one per slot, cost a PING per primary, not per room.
   */
  flush(subscriber: NodeClient): Promise<void> {
    return this.turnPings.run(subscriber, () =>
      this.bounded('subscriber PING', subscriber.ping()).then(
        () => undefined,
        (error: unknown) => {
          throw asCallError('subscriber PING', error, REDIRECTED);
        },
      ),
    );
  }

  /**
   * Subscribes every listed channel again, one after the other (resubscribe). A channel forgotten
   * before its turn (its room's last member left during the resync) is skipped: listing and
   * subscribing it again left it subscribed on Redis with no room holding it.
   */
  async resubscribeAll(): Promise<void> {
    for (const channel of [...this.channels.keys()]) if (this.channels.has(channel)) await this.resubscribe(channel);
  }

  /** Subscribed channels whose slot is now served by another primary than when subscribed. */
  moved(): number {
    // Every health check asks; a pod's channels (a Cluster's personal rooms: one per user) are
    // looked at only when a slot's primary changed since the last look.
    if (!this.slotOwners.changedSince(this.discovery.cluster.slots)) return 0;
    let moved = 0;
    for (const [channel, owner] of this.channels) if (this.discovery.ownerOf(channel) !== owner) moved++;
    return moved;
  }

  clear(): void {
    this.channels.clear();
  }

  /**
   * SUNSUBSCRIBE then SSUBSCRIBE, so the subscription is confirmed by the primary that owns the
   * slot now. A plain SSUBSCRIBE would not do: node-redis answers it at once, without asking
   * Redis, for a channel it already lists, and it lists a moved channel on the new primary
   * before its own SSUBSCRIBE there is answered. What is published between the two calls is
   * covered by the catch-up that follows. A channel forgotten while its SUNSUBSCRIBE was under
   * way is not subscribed again: the forget's SUNSUBSCRIBE went before that SSUBSCRIBE.
   */
  private async resubscribe(channel: string): Promise<void> {
    this.channels.set(channel, this.discovery.ownerOf(channel));
    await this.bounded('resubscribe', this.discovery.cluster.sUnsubscribe(channel, this.deliver)).catch((error: unknown) =>
      // The old subscription is gone with its node, or was never made: subscribing is what counts.
      this.logger.debug({ message: 'Unsubscribe before resubscribing failed', channel, error: describeError(error) }),
    );
    if (!this.channels.has(channel)) return;
    await this.bounded('resubscribe', this.discovery.cluster.sSubscribe(channel, this.deliver));
  }

  /** Best effort after a failed subscribe: the primary may subscribe the channel after the failure. */
  private dropChannel(channel: string): void {
    this.bounded('unsubscribe', this.discovery.cluster.sUnsubscribe(channel, this.deliver)).catch((error: unknown) =>
      // Still written behind the SSUBSCRIBE when only the deadline passed; gone with its node otherwise.
      this.logger.debug({ message: 'Unsubscribe after failed subscribe failed', channel, error: describeError(error) }),
    );
  }

  private bounded<T>(operation: string, call: Promise<T>): Promise<T> {
    return boundedCall(operation, call, this.commandTimeoutMs);
  }
}
