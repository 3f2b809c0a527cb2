import { Logger } from '@nestjs/common';
import { isPersonalRoom } from '@herald/client/protocol';
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { Broker, Delivery, DeliveryListener, DurableClaim, HistoryResult, Publication, PublishIdClaim, PublishOptions, PublishResult, PublishedEvent } from '../broker';
import { RefCountedSubscriptions } from '../ref-counted-subscriptions';
import { RoomBurstLog } from '../room-burst.log';
import { ParsedSeq, formatSeq, newEpochSuffix, parseSeq } from '../seq';
import { expirySeconds } from './inbox.scripts';
import type { BatchWindow } from './batch-window';
import type { CallLimits } from './call-groups';
import { asCallError, describeError } from './redis.client';
import { RedisCommands, RedisConnection } from './redis.connection';
import { LatestPositions } from './latest-positions';
import { RedisKeys } from './redis-keys';
import { RoomFeed, RoomFeeds } from './room.feeds';
import { RoomLives } from './room.lives';
import { GroupedPublish, PublishGroupSettings, PublishIdClaimKey, PublishReply, RoomKeys, RoomLatest } from './room.scripts';
import { TurnGroups } from './turn-groups';

/**
 * The most notifications one publish script call carries, and the most body bytes: the call holds
 * Redis for its whole run, about 25 us per notification, so no group stalls other pods' calls
 * for more than a few milliseconds.
 */
const PUBLISH_GROUP_LIMITS: CallLimits<GroupedPublish> = { items: 100, bytes: { most: 1 << 20, of: (item) => item.body.length } };
/** Claims are a GET and maybe a SET each. */
const CLAIM_GROUP_LIMITS: CallLimits<PublishIdClaimKey> = { items: 500 };
/** A claim as durable as its publishes by the time it is written (every mode but a Cluster: see sendClaims). */
const REPLICATED: Promise<void> = Promise.resolve();

/** The publications after a `since`, oldest first: how many, and the epoch and position of each. */
interface MissedPublications {
  count: number;
  at(index: number): [epoch: string, position: number];
}

export interface RedisBrokerOptions {
  historySize: number;
  historyTtlS: number;
  /** For publishes with `inboxUser`: the inbox is written in the publish script. */
  inboxSize: number;
  inboxTtlMs: number;
  /** REDIS_REPLAY_SIZE: publications a followed room keeps on the pod for rejoins (RoomFeeds); default when not given. */
  replaySize?: number;
  /** REDIS_MIN_REPLICAS: with 0, a followed room's new life is a gap for its members (RoomFeeds). */
  minReplicas?: number;
  /** REDIS_COMMAND_TIMEOUT_MS: also the longest a join waits for its room's feed to reach its history read (RoomFeeds.settled). */
  commandTimeoutMs?: number;
}

/**
 * The broker for any number of pods, on Redis, over a RedisConnection.
 *
 * - Publish is one Lua script (room.scripts.ts): de-duplication, LPUSH on the room's history list
 *   (trimmed to HISTORY_SIZE) of an entry that starts with its position, EXPIRE, the user's inbox when asked, and PUBLISH of the
 *   payload every pod decodes into a Publication. The room's epoch and position live in Redis,
 *   so all pods agree on `seq`; a Redis that lost its data starts a new epoch. The publishes of
 *   one event-loop turn share script calls (TurnGroups), each still published as if alone.
 * - History reads enforce exactly HISTORY_SIZE and HISTORY_TTL_S, and that the entries read run
 *   without gaps up to the latest position.
 * - The pod's rooms are followed by RoomFeeds (subscribed on 0 -> 1, unsubscribed on 1 -> 0);
 *   after every resync of the connection each room catches up from the last seq it delivered.
 * - A room's history life (its epoch) lasts while any pod follows it and for HISTORY_TTL_S after
 *   the last leaves, quiet or not, as in the memory broker: every pod extends the lives of the
 *   rooms it follows on a timer and a room's when it stops following it (RoomLives), so a join's
 *   seq stays a `since` that recovers whatever is published while its client is away.
 * - Personal rooms share REDIS_PERSONAL_CHANNELS channels (RedisKeys.channel): following one
 *   costs no SUBSCRIBE once its channel is held (RefCountedSubscriptions). Messages on a shared
 *   channel name their room on a first line. A personal room's anchor, on a shared channel or its
 *   own (a Cluster), is read with every other room followed in the same batch window
 *   (LatestPositions, BatchWindow), after the room is followed.
 */
export class RedisBroker extends Broker {
  private readonly logger = new Logger(RedisBroker.name);
  /** One line per burst: while Redis is frozen, every connection admitted meanwhile fails this read. */
  private readonly unanchoredRooms = new RoomBurstLog(this.logger, 'Could not read where followed rooms stand');
  private readonly feeds: RoomFeeds;
  private listener: DeliveryListener = () => undefined;
  /** history() reads waiting to be sent, by room and since: see history(). */
  private readonly pendingHistoryReads = new Map<string, Promise<HistoryResult>>();
  /** The channels several personal rooms share, held while any of their rooms is followed here. */
  private readonly sharedChannels: RefCountedSubscriptions;
  private readonly latestPositions: LatestPositions;
  /** Publishes of one turn, a script call per group (TurnGroups). */
  private readonly publishes: TurnGroups<GroupedPublish, PublishReply>;
  /** Publish id claims of one turn, a script call per group. */
  private readonly claims: TurnGroups<PublishIdClaimKey, DurableClaim>;
  private readonly lives: RoomLives;
  /** Extends the lives of the rooms followed here: see extendFollowedRooms. */
  private readonly livesTimer: NodeJS.Timeout;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly settings: RedisBrokerOptions,
    window: BatchWindow,
  ) {
    super();
    this.feeds = new RoomFeeds(
      // Catch-up asks Redis: it is what tells the feed where it stands.
      (room, since, acrossFailover) => this.readShared(room, since, acrossFailover),
      (delivery) => this.emit(delivery),
      settings.replaySize,
      lossyFailover(settings),
      settings.commandTimeoutMs,
      // Someone waits for a personal room followed just now: its anchor is read now, not at the
      // window's end. Other rooms read theirs on their own (subscribe), not in the window.
      (room) => {
        if (isPersonalRoom(room)) this.latestPositions.hurry();
      },
      () => connection.available,
    );
    this.sharedChannels = new RefCountedSubscriptions(connection);
    // A script's keys must share a slot on a Cluster; every key does elsewhere.
    const slotOf = (key: string) => (keys.sharded ? calculateSlot(key) : 0);
    this.publishes = new TurnGroups(
      // A duplicate WAITs too: WAIT covers the connection's earlier writes, so a retry through the
      // same pod is acknowledged only once the first attempt's write is replicated.
      (group) => connection.runReplicated('publish', group[0].keys.meta, (redis) => redis.heraldPublish(group, this.publishSettings())),
      (item) => slotOf(item.keys.meta),
      PUBLISH_GROUP_LIMITS,
    );
    this.claims = new TurnGroups((group) => this.sendClaims(group), (claim) => slotOf(claim.key), CLAIM_GROUP_LIMITS);
    this.latestPositions = new LatestPositions(connection, window, slotOf, settings.historyTtlS);
    this.lives = new RoomLives(connection, window, { historyTtlS: settings.historyTtlS, groupOf: slotOf });
    // Three times per TTL, each round spread over half of its period: a room is extended at
    // most 1.5 periods after the last time, and a followed room's life still never lapses when
    // one extension fails (2.5 periods, where the TTL is 3).
    this.livesTimer = setInterval(() => this.extendFollowedRooms(), livesPeriodMs(settings));
    this.livesTimer.unref();
    connection.onMessage((message, channel) => this.dispatch(message, channel));
    // Lost: every room holds what arrives live until it has caught up (RoomFeeds.holdAll).
    connection.onAvailabilityChange((available) => {
      if (!available) this.feeds.holdAll();
    });
    // Part of Redis silent (a Cluster primary): only its rooms hold, the others deliver on.
    connection.onChannelsSilent((silent) => this.feeds.holdAll((room) => silent(keys.channel(room))));
    connection.onResynced(() => this.feeds.catchUpAll());
  }

  onDelivery(listener: DeliveryListener): void {
    this.listener = listener;
  }

  async publish(room: string, event: PublishedEvent, body: Record<string, unknown>, options?: PublishOptions): Promise<PublishResult> {
    const channel = this.keys.channel(room);
    const reply = await this.publishes.add({
      keys: this.roomKeys(room),
      dedupKey: options?.dedupKey === undefined ? undefined : this.keys.dedup(room, options.dedupKey),
      inbox: options?.inboxUser === undefined ? undefined : this.keys.inboxKeys(options.inboxUser),
      channel,
      messagePrefix: this.keys.sharedMessagePrefix(room, channel),
      event,
      body: options?.bodyJson ?? JSON.stringify(body),
      fingerprint: options?.fingerprint ?? '',
    });
    if (reply instanceof Error) {
      this.connection.noticeErrorReply(reply);
      throw asCallError('publish', reply);
    }
    if (reply === 'duplicate' || reply === 'conflict') return { duplicate: true, conflict: reply === 'conflict' };
    return { duplicate: false, seq: formatSeq(reply.epoch, reply.position) };
  }

  async claimPublishId(id: string, fingerprint: string): Promise<PublishIdClaim> {
    return (await this.claimPublishIdDurably(id, fingerprint)).claim;
  }

  override claimPublishIdDurably(id: string, fingerprint: string): Promise<DurableClaim> {
    return this.claims.add({ key: this.keys.publishId(id), fingerprint });
  }

  /**
   * One script call for a group of claims. On one Redis a publish's WAIT, on the same connection,
   * covers the claim written before it. On a Cluster the claim's key has a slot of its own, most
   * often on another primary than its rooms', so it waits for that primary's replicas itself (a
   * failover there must not forget an acknowledged id, or a different body under it would be
   * delivered where it must be refused, 409), while the rooms are published to: the claims are
   * answered as soon as they are written, and the publish is acknowledged once both waits are.
   */
  private sendClaims(group: readonly PublishIdClaimKey[]): Promise<DurableClaim[]> {
    const claim = (redis: RedisCommands) => redis.heraldClaimPublishIds(group, this.settings.historyTtlS);
    if (!this.keys.sharded) return this.connection.run('publish id claim', claim).then((claims) => claims.map((written) => ({ claim: written, replicated: REPLICATED })));
    let answer!: (claims: readonly PublishIdClaim[]) => void;
    const answered = new Promise<readonly PublishIdClaim[]>((resolve) => (answer = resolve));
    const written = this.connection.runReplicated('publish id claim', group[0].key, async (redis) => {
      const claims = await claim(redis);
      answer(claims);
      return claims;
    });
    const replicated = written.then(() => undefined);
    // Read by every publish of the group that goes on; a claim answered 409 never reads it.
    replicated.catch(() => undefined);
    // The write failing rejects `written` before anything was answered.
    return Promise.race([answered, written]).then((claims) => claims.map((each) => ({ claim: each, replicated })));
  }

  async broadcast(room: string, frame: string, excludeUser?: string): Promise<void> {
    const header = excludeUser === undefined ? 'B' : `B ${JSON.stringify(excludeUser)}`;
    const channel = this.keys.channel(room);
    await this.connection.run('broadcast', (redis) => redis.publish(channel, `${this.keys.sharedMessagePrefix(room, channel)}${header}\n${frame}`));
  }

  async subscribe(room: string): Promise<void> {
    const channel = this.keys.channel(room);
    if (isPersonalRoom(room)) return this.subscribePersonal(room, channel);
    const feed = this.feeds.open(room);
    try {
      await this.connection.subscribe(channel);
      // Read after SUBSCRIBE returned: anything later reaches this pod live or by catch-up.
      const latest = await this.connection.attempt('history', (redis) => redis.heraldHistory(this.roomKeys(room), undefined, this.historyWindow()));
      // The read may count publications whose messages are still on their way here. Anchored
      // before they arrive, the room would answer joins from that position (historyNow) and then
      // deliver them to those members: a seq they were told they had. Once flushed, they wait in the feed.
      await this.connection.flushChannel(channel);
      this.feeds.anchor(room, feed, latest);
    } catch (error) {
      if (this.feeds.close(room, feed)) this.unsubscribeAfterFailure(room, channel);
      throw error;
    }
  }

  /**
   * A personal room whose shared channel this pod holds already: followed in this turn, with
   * nothing sent (its anchor is read with the batch window's, see followPersonal).
   */
  subscribeNow(room: string): boolean {
    const channel = this.keys.channel(room);
    if (!this.keys.isShared(channel) || !this.sharedChannels.acquireNow(channel)) return false;
    this.followPersonal(room, this.feeds.open(room));
    return true;
  }

  /**
   * A personal room: followed once its channel is held, its anchor read afterwards in the batch
   * window (followPersonal). Its admission reads no history, so nothing waits for the anchor but a
   * delivery or a rejoin, and the read-only batched read starts no history life that a replica
   * would copy and the room would never use (most personal rooms never carry a message).
   * - On a channel it shares with others (REDIS_PERSONAL_CHANNELS), held at once for all but a
   *   pod's first few connections (subscribeNow), so admission sends `welcome` in the turn of the
   *   handshake (one write with the 101 response, see turn-cork.ts).
   * - On a channel of its own (a Cluster, or REDIS_PERSONAL_CHANNELS=0), once it is subscribed.
   */
  private async subscribePersonal(room: string, channel: string): Promise<void> {
    const shared = this.keys.isShared(channel);
    const feed = this.feeds.open(room);
    try {
      await (shared ? this.sharedChannels.acquire(channel) : this.connection.subscribe(channel));
    } catch (error) {
      if (this.feeds.close(room, feed)) {
        if (shared) this.sharedChannels.release(channel);
        else this.unsubscribeAfterFailure(room, channel);
      }
      throw error;
    }
    this.followPersonal(room, feed);
  }

  /**
   * Where a personal room stands is read once its channel is held (so anything published after
   * the read reaches this pod live or by catch-up), batched with every room followed in the same
   * batch window; until it is known the feed holds back what arrives live (RoomFeeds.open), so
   * nothing is lost, repeated or reordered meanwhile.
   */
  private followPersonal(room: string, feed: RoomFeed): void {
    this.latestPositions.read(this.keys.meta(room), this.keys.channel(room), (error, latest) => {
      if (error === undefined) {
        this.feeds.anchor(room, feed, latest ?? null);
        return;
      }
      this.unanchoredRooms.add(room, describeError(error));
      this.feeds.anchorUnknown(room, feed);
    });
  }

  private unsubscribeAfterFailure(room: string, channel: string): void {
    this.connection.unsubscribe(channel).catch((failure: unknown) =>
      // The subscriber is failing too; its replacement is built without this room.
      this.logger.debug({ message: 'Unsubscribe after failed subscribe failed', room, error: describeError(failure) }),
    );
  }

  async unsubscribe(room: string): Promise<void> {
    if (!this.feeds.close(room)) return;
    // The room's life, even one that never carried a message, goes on for HISTORY_TTL_S from its
    // last member's leave, then expires with its keys: rooms nobody is in cost one window at most.
    this.lives.extend(this.keys.meta(room));
    const channel = this.keys.channel(room);
    if (this.keys.isShared(channel)) this.sharedChannels.release(channel);
    else await this.connection.unsubscribe(channel);
  }

  /**
   * For a room this pod follows and whose feed stands on a known position (not waiting for its
   * anchor, not catching up), a join's read is answered from that position without Redis: it is
   * the last publication delivered here, and everything after it reaches this pod's members live
   * (the caller answers in this turn, or has begun buffering them: ConnectionHub.enter), so the answer is what a read
   * would say less the publications still in flight to this pod, which then follow it in order.
   * So are a join without `since` (its `seq`), a rejoin with `since` at that position (nothing
   * missed), and a rejoin from a little further back in a shared room (replayHere). Anything else
   * reads Redis (readShared).
   */
  history(room: string, since?: string): Promise<HistoryResult> {
    const here = this.historyNow(room, since);
    if (here) return Promise.resolve(here);
    // Read again while it answers from a life this pod has left (a deposed primary): RoomFeeds.readCurrent.
    return this.feeds.readCurrent(room, () => this.readSettled(room, since));
  }

  /** A read from Redis, answered once the room's feed delivers again, up to what it saw: see RoomFeeds.settled. */
  private readSettled(room: string, since?: string): Promise<HistoryResult> {
    return this.readShared(room, since, true).then((read) => this.feeds.settled(room, read.latestSeq)?.then((reached) => (reached ? read : { ...read, aheadOfFeed: true })) ?? read);
  }

  historyNow(room: string, since?: string): HistoryResult | undefined {
    // While Redis is lost a join is refused as `unavailable`, as every read then is (section 7).
    const here = this.connection.available ? this.feeds.positionOf(room) : undefined;
    if (here === undefined) return undefined;
    const latestSeq = formatSeq(here.epoch, here.position);
    if (since === undefined) return { latestSeq, recovered: false, publications: [] };
    if (since === latestSeq) return { latestSeq, recovered: true, publications: [] };
    const replay = this.replayHere(room, since, here.position);
    return replay ? { latestSeq, recovered: true, publications: replay } : undefined;
  }

  /**
   * A rejoin's missed publications from what this pod delivered (RoomFeeds.replayAfter), when
   * they are certainly inside the history's window: no more than HISTORY_SIZE back, and every one
   * younger than half of HISTORY_TTL_S by this pod's clock (Redis's clock judges the window; the
   * half leaves room for the two to differ). Otherwise Redis decides.
   */
  private replayHere(room: string, since: string, latestPosition: number): Publication[] | undefined {
    const parsed = parseSeq(since);
    if (!parsed || latestPosition - parsed.position > this.settings.historySize) return undefined;
    const replay = this.feeds.replayAfter(room, parsed);
    const maxAgeMs = (this.settings.historyTtlS * 1000) / 2;
    if (!replay || (replay.length > 0 && Date.now() - replay[0].publishedAtMs >= maxAgeMs)) return undefined;
    return replay;
  }

  /**
   * Reads of the same room and `since` asked for in one turn of the event loop share one Redis
   * read: a reconnect storm is thousands of clients that rejoin a room having seen the same last
   * message. Only reads not sent yet are shared: the read goes out after every caller asked, and
   * each caller had begun buffering live deliveries before asking (ConnectionHub.enter), so it
   * covers each of them as a read of its own would.
   */
  private readShared(room: string, since?: string, acrossFailover = false): Promise<HistoryResult> {
    const key = since === undefined ? room : `${room}\n${since}\n${acrossFailover}`;
    const pending = this.pendingHistoryReads.get(key);
    if (pending) return pending;
    const read = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.pendingHistoryReads.delete(key);
      return this.readHistory(room, since, acrossFailover);
    });
    this.pendingHistoryReads.set(key, read);
    return read;
  }

  /**
   * `acrossFailover`: a `since` in the life a failover replaced, at or before where the latest took
   * over, recovers across into the latest (missedAfter): a client's rejoin, or a catch-up that
   * found the room in a later life than its own (RoomFeeds). Not the catch-up's other reads,
   * which must not hand the feed a new life's publications unasked.
   */
  private async readHistory(room: string, since: string | undefined, acrossFailover: boolean): Promise<HistoryResult> {
    const parsed = since === undefined ? undefined : parseSeq(since);
    const reply = await this.connection.run('history', (redis) => redis.heraldHistory(this.roomKeys(room), parsed, this.historyWindow()));
    if (!reply) return { latestSeq: null, recovered: false, publications: [] };
    const { epoch, latestPosition, after } = reply;
    const latestSeq = formatSeq(epoch, latestPosition);
    if (!parsed) return { latestSeq, recovered: false, publications: [] };
    const missed = this.missedAfter(parsed, { epoch, latestPosition }, acrossFailover ? after : undefined);
    if (!missed) return { latestSeq, recovered: false, publications: [] };
    // Exactly the contract's window: entries outlive their TTL until the whole list expires (and
    // a list written with a larger HISTORY_SIZE keeps more until its next publish trims it).
    const oldestAllowedMs = reply.nowMs - this.settings.historyTtlS * 1000;
    const entries = reply.entries ?? [];
    // Every position from since + 1 to the latest, once each and in order: a list that lost its
    // head or tail (expired, trimmed, rewritten by a failover) must not pass for the whole gap.
    const complete =
      entries.length === missed.count &&
      missed.count <= this.settings.historySize &&
      entries.every((entry, index) => {
        const [expectedEpoch, expectedPosition] = missed.at(index);
        return entry.epoch === expectedEpoch && entry.position === expectedPosition && entry.publishedAtMs > oldestAllowedMs;
      });
    if (!complete) return { latestSeq, recovered: false, publications: [] };
    const publications = entries.map(
      (entry): Publication => ({
        kind: 'publication',
        room,
        seq: formatSeq(entry.epoch, entry.position),
        event: entry.event as PublishedEvent,
        body: entry.body,
        publishedAtMs: entry.publishedAtMs,
      }),
    );
    return { latestSeq, recovered: true, publications };
  }

  /**
   * Which publications a client that saw `since` missed, if the history can tell: the positions
   * after it in its own life, up to `latest`; or, for a `since` in the life a failover replaced at
   * or before where the latest took over (`after`, HISTORY's), the old life's positions after it
   * up to there, then the latest life's from its start. The promoted server held the old life up
   * to `after`, and with REDIS_MIN_REPLICAS 1 or more a failover loses no acknowledged write
   * (section 7), so nothing else came between; with 0 the old life may have gone on in
   * acknowledged writes the promoted server never had. Undefined when nothing proves the gap.
   */
  private missedAfter(since: ParsedSeq, latest: RoomLatest, after: RoomLatest | undefined): MissedPublications | undefined {
    if (since.epoch === latest.epoch) {
      if (since.position > latest.latestPosition) return undefined;
      return { count: latest.latestPosition - since.position, at: (index) => [latest.epoch, since.position + 1 + index] };
    }
    if (lossyFailover(this.settings) || !after || after.epoch !== since.epoch || since.position > after.latestPosition) return undefined;
    const inOldLife = after.latestPosition - since.position;
    return {
      count: inOldLife + latest.latestPosition,
      at: (index) => (index < inOldLife ? [since.epoch, since.position + 1 + index] : [latest.epoch, index - inOldLife + 1]),
    };
  }

  get available(): boolean {
    return this.connection.available;
  }

  onAvailabilityChange(listener: (available: boolean) => void): void {
    this.connection.onAvailabilityChange(listener);
  }

  get subscribedRooms(): number {
    return this.feeds.size;
  }

  /**
   * Stops following every room; the connection itself is closed by the engine. Resolves once the
   * unsubscribes under way have ended (the connection's close ends them), their failures and the
   * unanchored rooms logged: the pod exits right after, and a line waiting for its timer is lost.
   */
  async close(): Promise<void> {
    clearInterval(this.livesTimer);
    this.lives.close();
    this.feeds.clear();
    await this.sharedChannels.close();
    this.unanchoredRooms.flush();
  }

  /**
   * Keeps the life of every room followed here going, quiet or not: a pod answers joins of a
   * followed room from what it delivered (historyNow), without the Redis read that would extend
   * it, and a life that lapsed under its members would hand them seqs of an epoch gone.
   */
  private extendFollowedRooms(): void {
    this.lives.extendAll(Array.from(this.feeds.rooms(), (room) => this.keys.meta(room)), livesPeriodMs(this.settings) / 2);
  }

  /**
   * Decodes a channel message: `P <epoch> <position> <publishedAtMs> <event>\n<body>` from the
   * publish script, or `B[ <excluded user JSON>]\n<frame>` from `broadcast`; on a shared channel
   * after a first line `@<room>`.
   */
  private dispatch(received: string, channel: string): void {
    let room = this.keys.roomOf(channel);
    let message = received;
    if (room === undefined && this.keys.isShared(channel) && received.startsWith('@')) {
      const end = received.indexOf('\n');
      room = received.slice(1, end);
      message = received.slice(end + 1);
    }
    // A message already in flight when this pod unsubscribed, or for a room of a shared channel not followed here.
    if (room === undefined || !this.feeds.has(room)) return;
    const newline = message.indexOf('\n');
    const header = message.slice(0, newline);
    const rest = message.slice(newline + 1);
    if (header.startsWith('P ')) {
      const [, epoch, position, publishedAtMs, event] = header.split(' ');
      const at: ParsedSeq = { epoch, position: Number(position) };
      const publication: Publication = {
        kind: 'publication',
        room,
        seq: formatSeq(epoch, at.position),
        event: event as PublishedEvent,
        body: rest,
        publishedAtMs: Number(publishedAtMs),
      };
      this.feeds.receive(publication, at);
    } else if (header === 'B' || header.startsWith('B ')) {
      const excludeUser = header.length > 2 ? (JSON.parse(header.slice(2)) as string) : undefined;
      this.feeds.receiveBroadcast(excludeUser === undefined ? { kind: 'broadcast', room, frame: rest } : { kind: 'broadcast', room, frame: rest, excludeUser });
    } else {
      this.logger.warn({ message: 'Ignoring a channel message of unknown shape', room });
    }
  }

  private emit(delivery: Delivery): void {
    try {
      this.listener(delivery);
    } catch (error) {
      this.logger.error({ message: 'Delivery listener failed', room: delivery.room, error: describeError(error) });
    }
  }

  private historyWindow() {
    // Redis supplies the time part of a new epoch (all pods agree on it); the random part comes from here.
    return { historySize: this.settings.historySize, historyTtlS: this.settings.historyTtlS, epochSuffix: newEpochSuffix(), readsStartLives: !this.keys.sharded };
  }

  private publishSettings(): PublishGroupSettings {
    return { pubsub: this.keys.pubsub, ...this.historyWindow(), inboxSize: this.settings.inboxSize, inboxTtlS: expirySeconds(this.settings.inboxTtlMs) };
  }

  private roomKeys(room: string): RoomKeys {
    return { meta: this.keys.meta(room), history: this.keys.history(room), legacyStream: this.keys.legacyHistoryStream(room) };
  }
}

/** How often the lives of the rooms followed here are extended (extendFollowedRooms). */
function livesPeriodMs(settings: RedisBrokerOptions): number {
  return (settings.historyTtlS * 1000) / 3;
}

/**
 * REDIS_MIN_REPLICAS=0: a failover may lose writes that were acknowledged, so a room's later life
 * never carries on from the old one without a gap (section 7). The feeds' catch-up and a join's
 * `since` both judge a new life by it.
 */
function lossyFailover(settings: RedisBrokerOptions): boolean {
  return (settings.minReplicas ?? 0) === 0;
}
