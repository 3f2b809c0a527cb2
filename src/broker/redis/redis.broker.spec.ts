import { Delivery } from '../broker';
import { formatSeq } from '../seq';
import { BatchWindow } from './batch-window';
import { ChannelListener, RedisConnection } from './redis.connection';
import { RedisBroker } from './redis.broker';
import { RedisKeys } from './redis-keys';
import { RoomHistoryReply } from './room.scripts';

/**
 * Redis as far as following a room goes, with the two connections apart: the command
 * connection's reads answer at once, while channel messages wait on the subscriber connection
 * until it is PINGed (flushChannel) or the test lets them through.
 */
class TwoConnections {
  latest: RoomHistoryReply | null = null;
  /** Channel messages sent by Redis that have not reached the pod yet. */
  readonly inFlight: Array<[message: string, channel: string]> = [];
  private listener: ChannelListener = () => undefined;

  readonly connection = {
    available: true,
    onMessage: (listener: ChannelListener) => (this.listener = listener),
    onAvailabilityChange: () => undefined,
    onResynced: () => undefined,
    onResync: () => undefined,
    subscribe: async () => undefined,
    unsubscribe: async () => true,
    flushChannel: async () => this.arrive(),
    run: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
    attempt: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
  } as unknown as RedisConnection;

  heraldHistory = async (): Promise<RoomHistoryReply | null> => this.latest;

  /** A publication Redis stored (the reads see it) and sent on the channel (not arrived yet). */
  publish(channel: string, epoch: string, position: number): void {
    this.latest = { epoch, latestPosition: position, nowMs: Date.now() };
    this.inFlight.push([`P ${epoch} ${position} ${Date.now()} message\n{"text":"${position}"}`, channel]);
  }

  /** Every message on its way reaches the pod, in order. */
  arrive(): void {
    for (const [message, channel] of this.inFlight.splice(0)) this.listener(message, channel);
  }
}

describe('RedisBroker', () => {
  it("anchors a newly followed room after the messages its anchor read counted: a join never gets a publication at or before its seq", async () => {
    const redis = new TwoConnections();
    const keys = new RedisKeys('test:', false, 0);
    const broker = new RedisBroker(redis.connection, keys, { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000 }, new BatchWindow(0));
    const delivered: Delivery[] = [];
    broker.onDelivery((delivery) => delivered.push(delivery));
    try {
      // Published before this pod subscribed: counted by reads, never sent here.
      redis.latest = { epoch: 'e1', latestPosition: 4, nowMs: Date.now() };
      const subscribing = broker.subscribe('chat');
      // Published between SUBSCRIBE and the anchor read: the read counts it, its message is late.
      redis.publish(keys.channel('chat'), 'e1', 5);
      await subscribing;
      // A join answered from where the room stands here (ConnectionHub.enter, then live delivery).
      const joinedSeq = broker.historyNow('chat')?.latestSeq;
      expect(joinedSeq).toBe(formatSeq('e1', 5));
      const afterJoin = delivered.length;
      redis.arrive();
      const liveAfterJoin = delivered.slice(afterJoin).flatMap((delivery) => (delivery.kind === 'publication' ? [delivery.seq] : []));
      expect(liveAfterJoin.filter((seq) => seq <= joinedSeq!)).toEqual([]);
      // Position 5 went out once, before the join's answer.
      expect(delivered.map((delivery) => (delivery.kind === 'publication' ? delivery.seq : delivery.kind))).toEqual([formatSeq('e1', 5)]);
    } finally {
      broker.close();
    }
  });
});
