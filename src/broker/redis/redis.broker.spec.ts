import { personalRoom } from '@herald/client/protocol';
import { Logger } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker';
import { formatSeq, newEpoch } from '../seq';
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
    onChannelsSilent: () => undefined,
    onResynced: () => undefined,
    onResync: () => undefined,
    subscribe: async () => undefined,
    unsubscribe: async () => true,
    flushChannel: async () => this.arrive(),
    run: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
    attempt: <T>(_operation: string, command: (redis: unknown) => Promise<T>) => command(this),
  } as unknown as RedisConnection;

  heraldHistory = async (): Promise<RoomHistoryReply | null> => this.latest;
  heraldLatestPositions = async (metaKeys: readonly string[]) => metaKeys.map(() => this.latest);
  /** A room this pod stops following has its life extended. */
  heraldExtendRoomLives = async () => undefined;

  /** A publication Redis stored (the reads see it) and sent on the channel (not arrived yet). */
  publish(channel: string, epoch: string, position: number, prefix = ''): void {
    this.latest = { epoch, latestPosition: position, nowMs: Date.now(), entries: undefined, after: undefined };
    this.inFlight.push([`${prefix}P ${epoch} ${position} ${Date.now()} message\n{"text":"${position}"}`, channel]);
  }

  /** Every message on its way reaches the pod, in order. */
  arrive(): void {
    for (const [message, channel] of this.inFlight.splice(0)) this.listener(message, channel);
  }
}

describe('RedisBroker', () => {
  /**
   * A room newly followed while a publication races its anchor read: published after the pod
   * holds the channel, counted by the read, its message still on its way when the read returns.
   * A join answered from where the room then stands (historyNow, as ConnectionHub.enter does)
   * must never be followed by a publication at or before the seq it was told.
   */
  async function raceTheAnchor(room: string, personalChannels: number) {
    const redis = new TwoConnections();
    const keys = new RedisKeys('test:', false, personalChannels);
    const broker = new RedisBroker(redis.connection, keys, { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000 }, new BatchWindow(0));
    const delivered: string[] = [];
    broker.onDelivery((delivery) => delivered.push(delivery.kind === 'publication' ? delivery.seq : delivery.kind));
    try {
      // Published before this pod followed the room: counted by reads, never sent here.
      redis.latest = { epoch: 'e1', latestPosition: 4, nowMs: Date.now(), entries: undefined, after: undefined };
      const channel = keys.channel(room);
      const subscribing = broker.subscribe(room);
      redis.publish(channel, 'e1', 5, keys.sharedMessagePrefix(room, channel));
      await subscribing;
      // The anchor is read now (a personal room's in the batch window, another room's at once).
      await until(() => broker.historyNow(room) !== undefined);
      const joinedSeq = broker.historyNow(room)!.latestSeq!;
      expect(joinedSeq).toBe(formatSeq('e1', 5));
      const beforeJoin = delivered.length;
      redis.arrive();
      expect(delivered.slice(beforeJoin).filter((seq) => seq <= joinedSeq)).toEqual([]);
      // Position 5 went out once, before the join's answer.
      expect(delivered).toEqual([formatSeq('e1', 5)]);
    } finally {
      await broker.close();
    }
  }

  it('anchors a newly followed room after the messages its anchor read counted', async () => {
    await raceTheAnchor('chat', 0);
  });

  it("anchors a personal room (a shared channel, read in the batch window) after the messages its read counted", async () => {
    await raceTheAnchor(personalRoom('alice'), 16);
  });

  it('anchors a personal room on a channel of its own (a Cluster, REDIS_PERSONAL_CHANNELS=0) after the messages its read counted', async () => {
    await raceTheAnchor(personalRoom('alice'), 0);
  });

  it.each([
    ['one Redis, REDIS_PERSONAL_CHANNELS=0', false],
    ['a Cluster', true],
  ])("reads the anchors of personal rooms on channels of their own in the batch window, one call per slot, starting no history life (%s)", async (_, sharded) => {
    const redis = new TwoConnections();
    const keys = new RedisKeys('test:', sharded, 0);
    const window = new BatchWindow(3_600_000);
    const broker = new RedisBroker(redis.connection, keys, { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000 }, window);
    const subscribed = jest.spyOn(redis.connection, 'subscribe');
    const anchorReads = jest.spyOn(redis, 'heraldLatestPositions');
    const lifeStarts = jest.spyOn(redis, 'heraldHistory');
    redis.latest = { epoch: 'e1', latestPosition: 3, nowMs: Date.now(), entries: undefined, after: undefined };
    // Two rooms in one slot (the same hash tag's slot), one in another.
    const rooms = ['user:{a}1', 'user:{a}2', 'user:b'].map((user) => personalRoom(user));
    try {
      for (const room of rooms) await broker.subscribe(room);
      expect(subscribed.mock.calls.map(([channel]) => channel)).toEqual(rooms.map((room) => keys.channel(room)));
      // Followed before its anchor is known: the reads wait for the window.
      expect(anchorReads).not.toHaveBeenCalled();
      expect(rooms.map((room) => broker.historyNow(room))).toEqual([undefined, undefined, undefined]);
      window.flushNow();
      await until(() => rooms.every((room) => broker.historyNow(room) !== undefined));
      const metas = rooms.map((room) => keys.meta(room));
      expect(anchorReads.mock.calls.map(([read]) => read)).toEqual(sharded ? [metas.slice(0, 2), metas.slice(2)] : [metas]);
      expect(lifeStarts).not.toHaveBeenCalled();
    } finally {
      window.flushNow();
      await broker.close();
    }
  });

  it("sends the window's anchor reads at once for a personal room's delivery held back, not for another room's", async () => {
    const redis = new TwoConnections();
    const keys = new RedisKeys('test:', false, 16);
    const window = new BatchWindow(3_600_000);
    const broker = new RedisBroker(redis.connection, keys, { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000 }, window);
    const anchorReads = jest.spyOn(redis, 'heraldLatestPositions');
    let answerChat!: () => void;
    jest.spyOn(redis, 'heraldHistory').mockImplementationOnce(() => new Promise((resolve) => (answerChat = () => resolve(null))));
    try {
      const alice = personalRoom('alice');
      await broker.subscribe(alice);
      const chatFollowed = broker.subscribe('chat');
      await until(() => answerChat !== undefined);
      // A publication to the room still reading its own anchor waits for that read, not for the window's.
      redis.publish(keys.channel('chat'), 'e1', 1);
      redis.arrive();
      expect(anchorReads).not.toHaveBeenCalled();
      // One to the personal room, whose anchor read waits in the hour-long window, sends the window.
      redis.publish(keys.channel(alice), 'e1', 1, keys.sharedMessagePrefix(alice, keys.channel(alice)));
      redis.arrive();
      expect(anchorReads).toHaveBeenCalledTimes(1);
      answerChat();
      await chatFollowed;
    } finally {
      window.flushNow();
      await broker.close();
    }
  });

  it('closes once the unsubscribes of shared channels under way have ended, their failures logged', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const redis = new TwoConnections();
    const broker = new RedisBroker(redis.connection, new RedisKeys('test:', false, 16), { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000 }, new BatchWindow(0));
    let failUnsubscribe: (() => void) | undefined;
    jest.spyOn(redis.connection, 'unsubscribe').mockImplementationOnce(() => new Promise((_, reject) => (failUnsubscribe = () => reject(new Error('connection closed')))));
    try {
      const alice = personalRoom('alice');
      await broker.subscribe(alice);
      await broker.unsubscribe(alice);
      // Its channel's unsubscribe waits on Redis, as on a silent one, until the connection closes.
      await until(() => failUnsubscribe !== undefined);
      const closed = broker.close();
      failUnsubscribe!();
      await closed;
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ message: 'Unsubscribe failed', rooms: 1, personalRooms: 0 }));
    } finally {
      warn.mockRestore();
    }
  });

  describe("a join's read answered from a history life the room's feed has left", () => {
    /**
     * A room this pod follows, whose feed crossed from life e1 (at 5) into e2 (a failover's
     * promoted server took over at 5); then a rejoin's read is answered by `answers` in turn, the last one again past them.
     */
    async function rejoinAfterFailover(answers: Array<'deposed' | 'promoted'>) {
      const redis = new TwoConnections();
      const keys = new RedisKeys('test:', false, 16);
      const broker = new RedisBroker(redis.connection, keys, { historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000, minReplicas: 1 }, new BatchWindow(0));
      const room = 'public:failed-over';
      const [e1, e2] = [newEpoch(1_000), newEpoch(2_000)];
      const entry = (epoch: string, position: number) => ({ epoch, position, event: 'message', publishedAtMs: Date.now(), body: `{"text":"${epoch} ${position}"}` });
      try {
        redis.latest = { epoch: e1, latestPosition: 5, nowMs: Date.now(), entries: undefined, after: undefined };
        await broker.subscribe(room);
        await until(() => broker.historyNow(room) !== undefined);
        redis.publish(keys.channel(room), e2, 1);
        redis.latest = { epoch: e2, latestPosition: 1, nowMs: Date.now(), entries: [entry(e2, 1)], after: { epoch: e1, latestPosition: 5 } };
        redis.arrive();
        await until(() => broker.historyNow(room)?.latestSeq === formatSeq(e2, 1));
        const promoted = redis.latest;
        // The deposed primary ran two writes queued for it (answered 503) before it learned of the failover.
        const deposed: RoomHistoryReply = { epoch: e1, latestPosition: 7, nowMs: Date.now(), entries: [entry(e1, 7), entry(e1, 6)], after: undefined };
        const replies = answers.map((answer) => (answer === 'deposed' ? deposed : promoted));
        jest.spyOn(broker, 'historyNow').mockReturnValue(undefined);
        // Past the answers given, the last one again: the server answering does not change by itself.
        redis.heraldHistory = async () => (replies.length > 1 ? replies.shift()! : replies[0]);
        const read = await broker.history(room, formatSeq(e1, 5));
        return { recovered: read.recovered, seqs: read.publications.map((publication) => publication.seq), e2 };
      } finally {
        await broker.close();
      }
    }
    it("reads again, from the promoted server, and replays none of the deposed primary's writes", async () => {
      const { recovered, seqs, e2 } = await rejoinAfterFailover(['deposed', 'promoted']);
      expect({ recovered, seqs }).toEqual({ recovered: true, seqs: [formatSeq(e2, 1)] });
    });

    it('refuses the join as unavailable while the reads keep coming from the left life', async () => {
      await expect(rejoinAfterFailover(['deposed'])).rejects.toBeInstanceOf(BrokerUnavailableError);
    });
  });

  describe('a rejoin\'s read across a failover', () => {
    /** A room whose life e2 took over from e1 at position 5 on the promoted server, which kept e1's entries. */
    async function rejoin(since: string, options: { minReplicas?: number; historySize?: number; entries?: Array<[string, number]>; ageMs?: number } = {}) {
      const redis = new TwoConnections();
      const { minReplicas = 1, historySize = 10, ageMs = 0 } = options;
      const entries = (options.entries ?? [['e1', 4], ['e1', 5], ['e2', 1], ['e2', 2]]).map(([epoch, position]) => ({
        epoch,
        position,
        event: 'message',
        publishedAtMs: Date.now() - ageMs,
        body: `{"text":"${epoch} ${position}"}`,
      }));
      redis.latest = { epoch: 'e2', latestPosition: 2, nowMs: Date.now(), entries, after: { epoch: 'e1', latestPosition: 5 } };
      const broker = new RedisBroker(redis.connection, new RedisKeys('test:', false, 16), { historySize, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 60_000, minReplicas }, new BatchWindow(0));
      try {
        const read = await broker.history('public:failed-over', since);
        return { recovered: read.recovered, seqs: read.publications.map((publication) => publication.seq) };
      } finally {
        await broker.close();
      }
    }

    it('recovers a since from the old life up to the takeover point: the rest of the old life, then the new one from its start', async () => {
      expect(await rejoin(formatSeq('e1', 3))).toEqual({ recovered: true, seqs: [formatSeq('e1', 4), formatSeq('e1', 5), formatSeq('e2', 1), formatSeq('e2', 2)] });
    });

    it.each([
      ['a since past the takeover point (a write the failover lost)', formatSeq('e1', 6), {}],
      ['a since from another life', formatSeq('e0', 3), {}],
      ['REDIS_MIN_REPLICAS=0, where a failover may lose acknowledged writes', formatSeq('e1', 3), { minReplicas: 0 }],
      ['an entry missing', formatSeq('e1', 3), { entries: [['e1', 4], ['e2', 1], ['e2', 2]] as Array<[string, number]> }],
      ['entries out of order', formatSeq('e1', 3), { entries: [['e1', 4], ['e2', 1], ['e1', 5], ['e2', 2]] as Array<[string, number]> }],
      ['more missed than HISTORY_SIZE', formatSeq('e1', 3), { historySize: 3 }],
      ['entries older than HISTORY_TTL_S', formatSeq('e1', 3), { ageMs: 120_000 }],
    ])('answers recovered: false for %s', async (_, since, options) => {
      expect(await rejoin(since, options)).toEqual({ recovered: false, seqs: [] });
    });
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
