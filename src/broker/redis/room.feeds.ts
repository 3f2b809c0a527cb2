import { Logger } from '@nestjs/common';
import { isPersonalRoom } from '@herald/client/protocol';
import { Broadcast, BrokerUnavailableError, Delivery, HistoryResult, Publication } from '../broker';
import { EPOCH_TIME_DIGITS, ParsedSeq, formatSeq, parseSeq } from '../seq';
import { RoomBurstLog } from '../room-burst.log';
import { describeError } from './redis.client';

/** This pod's view of one subscribed room. */
export interface RoomFeed {
  /** The last publication delivered here: drops repeats, and is where catch-up starts. */
  last: ParsedSeq | undefined;
  /**
   * The room's latest position when this pod subscribed (epoch null: the room had no history):
   * where catch-up starts if nothing was delivered since. Undefined while it is being read;
   * UNKNOWN_ANCHOR when that read failed.
   */
  anchor: Anchor | undefined;
  /**
   * Set while the anchor is being read and while catching up after a reconnect: what arrives
   * live waits here, in order (publications with their position), and is delivered after.
   */
  pending: PendingDelivery[] | undefined;
  /**
   * The newest positions delivered here and their publication times (oldest first, at most
   * RECENT_POSITIONS): tells a repeat from another publication given a position already used.
   * Undefined until the first delivery: most personal rooms never carry one.
   */
  recent: Array<[position: number, publishedAtMs: number]> | undefined;
}

/**
 * How many delivered positions each room remembers. A failover loses at most the writes that
 * were not replicated yet, a handful at the rate one room is published to.
 */
const RECENT_POSITIONS = 16;

type Anchor = Readonly<{ epoch: string | null; position: number }>;

/**
 * A shared room's newest publications delivered here (at most `replaySize`), with no position
 * missing between them, and the position of the last (the feed's `last` may move past it without
 * a delivery, after a gap), so a delivery parses no seq to extend it.
 */
interface Replay {
  readonly publications: Publication[];
  last: ParsedSeq;
}

/** A live delivery held back while the feed is pending: a publication with its position, or a broadcast. */
type PendingDelivery = [Publication, ParsedSeq] | [Broadcast, undefined];

/**
 * REDIS_REPLAY_SIZE (default): how many of its newest publications a shared room keeps on the
 * pod for rejoins (replayAfter): a client that dropped and comes back within a few seconds, as in
 * a drain's reconnect storm, asks for what it missed since, and thousands of such rejoins are
 * answered without Redis. A rejoin from further back reads Redis, as any read does. Personal
 * rooms keep none: their connections are admitted without `since`, and there is one per user.
 */
export const DEFAULT_REPLAY_SIZE = 32;

/** The anchor of every room that had no history when followed: one object for all of them. */
const NO_HISTORY_ANCHOR: Anchor = Object.freeze({ epoch: null, position: 0 });

/**
 * The anchor of a room whose position could not be read: told apart from NO_HISTORY_ANCHOR by
 * identity. Its epoch matches no publication's, so no live publication counts as a skip from it,
 * and a catch-up from it can prove nothing (see catchUp).
 */
const UNKNOWN_ANCHOR: Anchor = Object.freeze({ epoch: null, position: 0 });

/** Someone waiting for a feed to deliver live again, and up to `target` when given (settled). */
interface SettledWaiter {
  readonly target: ParsedSeq | undefined;
  /** `reached`: false when the wait for `target` ran out before the feed delivered it. */
  settle(reached: boolean): void;
}

/** How long a join waits, by default, for its room's feed to deliver what its history read saw (settled). */
export const DEFAULT_MAX_FEED_LAG_MS = 2_000;

/**
 * Reads a room's history (RedisBroker.history). `acrossFailover`: a `since` in the life a
 * failover replaced, at or before where the latest took over, reads on into the latest life.
 */
type HistoryReader = (room: string, since?: string, acrossFailover?: boolean) => Promise<HistoryResult>;

/**
 * The rooms this pod subscribes to on Redis, each with where its delivery stands, so that live
 * messages and catch-up after a reconnect reach the delivery listener once and in order.
 * Pub/Sub is at most once: whatever the subscriber missed while away is read back from the
 * room's history, and when history cannot cover the gap the room gets a HistoryGap instead of
 * silence.
 */
export class RoomFeeds {
  private readonly logger = new Logger(RoomFeeds.name);
  private readonly gaps = new RoomBurstLog(this.logger, 'Room history did not cover the outage; members are told to recover');
  private readonly feeds = new Map<string, RoomFeed>();
  /** Feeds whose pod resynced while their anchor was being read: they catch up once it is known. */
  private readonly resyncedBeforeAnchor = new Set<RoomFeed>();
  /** Per shared room, its newest publications delivered here: see Replay and replayAfter. */
  private readonly replays = new Map<string, Replay>();
  /** Feeds holding their live deliveries since the connection was lost, until catchUpAll (holdAll). */
  private readonly heldForResync = new Set<RoomFeed>();
  /** Who waits for a feed to deliver what it holds, or up to a position (settled). */
  private readonly settledWaiters = new Map<RoomFeed, SettledWaiter[]>();

  constructor(
    private readonly readHistory: HistoryReader,
    private readonly emit: (delivery: Delivery) => void,
    /** REDIS_REPLAY_SIZE; 0 keeps nothing, and every rejoin with `since` reads Redis. */
    private readonly replaySize = DEFAULT_REPLAY_SIZE,
    /**
     * True with REDIS_MIN_REPLICAS=0, where a failover may lose writes that were acknowledged
     * (and not seen here). A followed room's life never lapses (RoomLives), so a later life that
     * arrives live began in such a failover or in a Redis that lost its data: the members are told
     * to recover rather than carry on as if nothing came between: the new life's first
     * publication counts as a skip (skipsPositions), and the catch-up it starts tells the gap. A
     * catch-up that read the promoted replica before the new life began saw the old life's last
     * position, the one delivered here, and found nothing missing.
     */
    private readonly newLifeIsGap = false,
    /** REDIS_COMMAND_TIMEOUT_MS: the longest a join waits for the feed to reach its read (settled). */
    private readonly maxFeedLagMs = DEFAULT_MAX_FEED_LAG_MS,
    /**
     * Told which room someone waits on while its anchor is still being read (a live delivery
     * held back, a join waiting for the feed), so that read goes now: a personal room's anchor
     * is read in a batch that otherwise waits for the end of its window (LatestPositions.hurry).
     */
    private readonly anchorAwaited: (room: string) => void = () => undefined,
    /**
     * Whether the broker's connection is up now: a catch-up that failed because it was lost again
     * waits for the resync that follows instead of declaring the room's gap (catchUp).
     */
    private readonly brokerAvailable: () => boolean = () => true,
  ) {}

  get size(): number {
    return this.feeds.size;
  }

  has(room: string): boolean {
    return this.feeds.has(room);
  }

  /** The rooms followed here. */
  rooms(): IterableIterator<string> {
    return this.feeds.keys();
  }

  /**
   * Where a followed room stands on this pod: the last publication delivered here, else its
   * anchor. Undefined unless that is known for sure: the room is not followed, waits for its
   * anchor or catches up, or had no history life when followed (a read would start one).
   */
  positionOf(room: string): Readonly<ParsedSeq> | undefined {
    const feed = this.feeds.get(room);
    return feed && !feed.pending ? standingOf(feed) : undefined;
  }

  /**
   * Starts following a room; `anchor` it once its latest position is known. Until then what
   * arrives live waits in the feed, so a room may be followed (and its members admitted) before
   * the read returns without a delivery being lost, repeated or reordered.
   */
  open(room: string): RoomFeed {
    const feed: RoomFeed = { last: undefined, anchor: undefined, pending: [], recent: undefined };
    this.feeds.set(room, feed);
    return feed;
  }

  /**
   * Where catch-up starts if nothing is delivered before the next reconnect; then delivers what
   * waited for it. Read after the channel was held, so whatever waits came after the subscription.
   */
  anchor(room: string, feed: RoomFeed, latest: { epoch: string; latestPosition: number } | null): void {
    this.anchored(room, feed, latest ? { epoch: latest.epoch, position: latest.latestPosition } : NO_HISTORY_ANCHOR);
  }

  /**
   * The anchor could not be read: what waited is delivered, and if the pod resyncs before the
   * room delivers anything, its members are told to recover (nothing proves they missed nothing).
   */
  anchorUnknown(room: string, feed: RoomFeed): void {
    this.anchored(room, feed, UNKNOWN_ANCHOR);
  }

  /** Stops following a room; with `feed`, only if it is still that opening's feed. */
  close(room: string, feed?: RoomFeed): boolean {
    const current = this.feeds.get(room);
    if (current === undefined || (feed !== undefined && current !== feed)) return false;
    this.resyncedBeforeAnchor.delete(current);
    this.heldForResync.delete(current);
    this.replays.delete(room);
    this.feeds.delete(room);
    this.releaseWaiters(current, true);
    return true;
  }

  clear(): void {
    this.gaps.flush();
    const waiting = [...this.settledWaiters.keys()];
    this.feeds.clear();
    this.resyncedBeforeAnchor.clear();
    this.heldForResync.clear();
    this.replays.clear();
    for (const feed of waiting) this.releaseWaiters(feed, true);
  }

  /**
   * Resolves once the room's feed delivers live again (its anchor known, its catch-up done) and
   * has delivered up to `seen`, the latest seq a history read from Redis saw; undefined when it
   * already has, or the room is not followed. A join that read history from Redis waits for it
   * before its hand-over, which drops from its buffer only what history already replayed:
   * - what the feed holds was published before its anchor was read, possibly before that
   *   history read too;
   * - the read and the feed come over different connections, so the read can see a
   *   publication whose channel message has not reached this pod yet.
   * Either, delivered after the hand-over, would reach the new member a second time. The wait for
   * `seen` lasts at most maxFeedLagMs: a publication the read saw that never reaches this pod (a
   * failover lost it, or its subscription has not moved to the new primary yet) holds no join for
   * longer. Resolves false when that wait ran out (the join then keeps from its member what the
   * feed delivers up to `seen`: HistoryResult.aheadOfFeed), true otherwise.
   */
  settled(room: string, seen?: string | null): Promise<boolean> | undefined {
    const feed = this.feeds.get(room);
    if (!feed) return undefined;
    const target = seen ? parseSeq(seen) : undefined;
    if (!feed.pending && (target === undefined || hasDelivered(feed, target))) return undefined;
    if (feed.pending && feed.anchor === undefined) this.anchorAwaited(room);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: SettledWaiter = {
        target,
        settle: (reached) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      if (target) {
        timer = setTimeout(() => this.forgetWaiter(feed, waiter), this.maxFeedLagMs);
        timer.unref();
      }
      const waiters = this.settledWaiters.get(feed);
      if (waiters) waiters.push(waiter);
      else this.settledWaiters.set(feed, [waiter]);
    });
  }

  /**
   * Tells who waits for `feed` (settled) and is served: none while it holds deliveries, those
   * without a position or whose position it delivered otherwise; all when `gone` (no longer followed).
   */
  private releaseWaiters(feed: RoomFeed, gone = false): void {
    const waiters = this.settledWaiters.get(feed);
    if (!waiters || (feed.pending && !gone)) return;
    const waiting = gone ? [] : waiters.filter(({ target }) => target !== undefined && !hasDelivered(feed, target));
    if (waiting.length === waiters.length) return;
    if (waiting.length > 0) this.settledWaiters.set(feed, waiting);
    else this.settledWaiters.delete(feed);
    for (const waiter of waiters) if (!waiting.includes(waiter)) waiter.settle(true);
  }

  /** A waiter whose time ran out: served now, whatever the feed delivered. */
  private forgetWaiter(feed: RoomFeed, waiter: SettledWaiter): void {
    const waiters = this.settledWaiters.get(feed);
    const index = waiters?.indexOf(waiter) ?? -1;
    if (index >= 0) waiters!.splice(index, 1);
    if (waiters?.length === 0) this.settledWaiters.delete(feed);
    waiter.settle(false);
  }

  /**
   * `read` (a history read of `room`), again a moment later while it answers from an earlier life
   * than this pod has received in the room (delivered, or held while the feed catches up), up to
   * STALE_READ_TRIES times; then StaleReadError. Such a read came from a primary deposed while
   * paused: awake, it answers as the old life's primary until it learns, with the writes queued
   * for it that it ran on waking (answered 503; their retries come in the new life). Taken for
   * where the room stands, a catch-up's proved nothing missing and a join's replayed them, and
   * the retries then reached the same members with no `recovery` (the fault drill's and a probe's
   * Cluster runs). A moment later the pod has followed the promoted server. Used by every read
   * whose answer a member gets: the catch-up's (catchUp) and a join's (RedisBroker.history).
   */
  async readCurrent<T extends { latestSeq: string | null }>(room: string, read: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const answer = await read();
      if (!this.isBehind(room, answer.latestSeq)) return answer;
      if (attempt === STALE_READ_TRIES) throw new StaleReadError();
      this.logger.debug({ message: 'A history read was answered from a life this pod has left; reading again', room, attempt });
      await new Promise((resolve) => setTimeout(resolve, STALE_READ_RETRY_MS).unref());
    }
  }

  /**
   * Whether a read that saw `latestSeq` last is in an earlier life than the newest this pod has
   * received in the room: its feed's position, or a publication it holds. A read that found no
   * history is never behind: a Redis that lost its data answers so, and the feed tells the gap.
   */
  private isBehind(room: string, latestSeq: string | null): boolean {
    const feed = this.feeds.get(room);
    const read = latestSeq === null ? undefined : parseSeq(latestSeq);
    if (!feed || !read) return false;
    let newest = standingOf(feed)?.epoch;
    for (const [, at] of feed.pending ?? []) {
      if (at !== undefined && (newest === undefined || isEarlierLife(newest, at.epoch))) newest = at.epoch;
    }
    return newest !== undefined && isEarlierLife(read.epoch, newest);
  }

  /**
   * What this pod delivered in a followed room after `since`, when it still holds all of it
   * (positionOf's conditions, the same life, nothing missing from `since` to its last); else
   * undefined. The caller checks that window against the history's size and age.
   */
  replayAfter(room: string, since: ParsedSeq): Publication[] | undefined {
    const at = this.positionOf(room);
    const kept = this.replays.get(room);
    if (!at || !kept || since.epoch !== at.epoch || since.position > at.position) return undefined;
    const { publications, last } = kept;
    const firstPosition = last.position - publications.length + 1;
    if (last.epoch !== at.epoch || last.position !== at.position || since.position < firstPosition - 1) return undefined;
    return publications.slice(since.position - firstPosition + 1);
  }

  /** A broadcast from the channel: after whatever of the room's is held back, else at once. */
  receiveBroadcast(broadcast: Broadcast): void {
    const feed = this.feeds.get(broadcast.room);
    if (feed) this.broadcastIn(feed, broadcast);
  }

  private broadcastIn(feed: RoomFeed, broadcast: Broadcast): void {
    if (feed.pending) this.hold(feed, [broadcast, undefined], broadcast.room);
    else this.emit(broadcast);
  }

  /**
   * A live publication from the channel; dropped for a room no longer followed (in flight when
   * it left). One that skips positions means the subscription missed some, as when a Cluster slot
   * moves between primaries: the room catches up from history first. In a new life (a new epoch)
   * every position before it was missed here.
   */
  receive(publication: Publication, at: ParsedSeq): void {
    const feed = this.feeds.get(publication.room);
    if (feed) this.receiveIn(feed, publication, at);
  }

  private receiveIn(feed: RoomFeed, publication: Publication, at: ParsedSeq): void {
    const from = feed.last ?? feed.anchor;
    if (!feed.pending && from && skipsPositions(from, at, this.newLifeIsGap)) {
      this.logger.debug({ message: 'A live publication skipped positions; catching the room up', room: publication.room, from: from.position, at: at.position });
      // Sets `pending` before its first await, so this publication waits behind what it skipped.
      void this.catchUp(publication.room, feed);
    } else if (!feed.pending && from && opensLaterLife(from, at)) {
      // A new life's first publication, in order (a failover's): delivered after what this pod
      // missed of the old life where the history shows the new life took over at or after where
      // it stands (catchUp), else after a gap.
      void this.catchUp(publication.room, feed);
    }
    if (feed.pending) this.hold(feed, [publication, at], publication.room);
    else this.deliverInOrder(feed, publication, at);
  }

  /** Keeps a live delivery behind what the feed holds; one held for the anchor asks for it. */
  private hold(feed: RoomFeed, delivery: PendingDelivery, room: string): void {
    feed.pending!.push(delivery);
    if (feed.anchor === undefined) this.anchorAwaited(room);
  }

  /**
   * The connection was lost: until catchUpAll, every room holds what arrives live, behind its
   * catch-up. The resync resubscribes before its other steps, so live publications arrive
   * before catchUpAll runs; delivered at once, one from a new history life (Redis restarted
   * empty, then took publishes from quicker pods) moved the room past everything it had missed
   * in that life, with no skip to see across two epochs, and the catch-up then found nothing
   * missing: a silent gap. Rooms already holding (anchoring, catching up) keep their own way.
   * `only`: the rooms of a part of Redis that went silent while the rest serves (a Cluster
   * primary, RedisConnection.onChannelsSilent); the others deliver on.
   */
  holdAll(only?: (room: string) => boolean): void {
    for (const [room, feed] of this.feeds) {
      if (feed.pending || (only !== undefined && !only(room))) continue;
      feed.pending = [];
      this.heldForResync.add(feed);
    }
  }

  /** After a reconnect: every room catches up on what this pod missed, then delivers what it held. */
  catchUpAll(): void {
    for (const [room, feed] of this.feeds) {
      if (this.heldForResync.delete(feed)) {
        const held = feed.pending ?? [];
        feed.pending = undefined;
        void this.catchUp(room, feed, held);
      } else if (feed.anchor === undefined) {
        // Its anchor is still being read: it catches up from there once known (`anchored`).
        this.resyncedBeforeAnchor.add(feed);
      } else {
        void this.catchUp(room, feed);
      }
    }
  }

  /**
   * The anchor is known: what waited is delivered in order, as if it had arrived now. After a
   * resync meanwhile, the room catches up from the anchor first (what waited is then its live
   * backlog, and what the outage lost is read back in between).
   */
  private anchored(room: string, feed: RoomFeed, anchor: Anchor): void {
    feed.anchor = anchor;
    // Closed while its anchor was read: nothing is delivered for a room no longer followed.
    if (this.feeds.get(room) !== feed) return;
    const waiting = feed.pending ?? [];
    feed.pending = undefined;
    if (this.resyncedBeforeAnchor.delete(feed)) {
      void this.catchUp(room, feed, waiting);
      return;
    }
    this.deliverWaiting(feed, waiting);
    this.releaseWaiters(feed);
  }

  /**
   * What waited for the anchor, received as if it arrived now: a skipped position starts a
   * catch-up, and what follows it waits again. (catchUp delivers its own backlog without that
   * test: it has just read the history, and a failed read would otherwise be retried at once.)
   */
  private deliverWaiting(feed: RoomFeed, waiting: PendingDelivery[]): void {
    for (const [delivery, at] of waiting) {
      if (at === undefined) this.broadcastIn(feed, delivery);
      else this.receiveIn(feed, delivery, at);
    }
  }

  /**
   * Delivers what this pod missed while its subscriber was away, then the live backlog, in order.
   * When it cannot prove it missed nothing (the room's history is gone, began a new life because
   * Redis lost its data, or no longer reaches back), the room gets a HistoryGap (section 4's
   * `recovery`) instead of a silent gap.
   *
   * A room in a later life than the one this pod stood in (a failover's promoted server began it
   * at its first publish there) is carried on, without a gap, where that life took over from the
   * old one at or after the position this pod delivered last (HISTORY's `after`, which the broker
   * reads with the entries and judges: `acrossFailover`): the server held the old life up to there, and with REDIS_MIN_REPLICAS 1 or more no acknowledged
   * write of it is missing from it (section 7), so what this pod missed is the old life's rest up
   * to there (kept in history with the new life), then the new life from its start: one read
   * across both. This holds whether the pod meets the new life in order (its first publication
   * arrives live) or in the catch-up after its resync: a write it missed while away is either on
   * the promoted server, and read back, or was never acknowledged, and its retry is in the new
   * life. Where this pod delivered a write the promoted server lacks (a deposed primary's last
   * write, answered 503, whose retry the new life then carries again), where nothing says where
   * the new life took over, or where the old life's rest is no longer in history: a gap. With
   * REDIS_MIN_REPLICAS=0 (newLifeIsGap) a failover may lose acknowledged writes: always a gap.
   */
  private async catchUp(room: string, feed: RoomFeed, waiting: PendingDelivery[] = []): Promise<void> {
    const from = feed.last ?? feed.anchor;
    if (!from || feed.pending) return;
    feed.pending = waiting;
    // The publication that started this catch-up is held by the time a read answers (receiveIn).
    const readHistory: HistoryReader = (_room, since, acrossFailover) => this.readCurrent(room, () => this.readHistory(room, since, acrossFailover));
    let latestSeq: string | null = null;
    let gapReported = false;
    /** Left to the next resync: the feed goes on holding what it holds (see the catch below). */
    let deferred = false;
    const gap = () => {
      if (!gapReported) this.reportGap(room, latestSeq);
      gapReported = true;
    };
    try {
      latestSeq = (await readHistory(room)).latestSeq;
      const latest = latestSeq === null ? undefined : parseSeq(latestSeq)!;
      if (from === UNKNOWN_ANCHOR) {
        if (!latest) {
          // No history now: nothing was published in the room since it was followed (a publication
          // starts a life that outlasts any outage shorter than HISTORY_TTL_S), as for a room that
          // had none when followed. Most personal rooms never carry a message: their users,
          // admitted while an outage began, were told to recover for nothing.
          feed.anchor = NO_HISTORY_ANCHOR;
          return;
        }
        // Where the room stood when followed was never known: nothing proves what came before `latest`.
        gap();
        this.moveTo(feed, latest);
        return;
      }
      const sameLife = latest !== undefined && latest.epoch === from.epoch;
      let missed: HistoryResult | undefined;
      /** The history this pod followed is gone; told once the read below says where the room stands. */
      let lifeLost = false;
      if (from.epoch !== null && !sameLife) {
        // Another life: one read across, from `from`, carries the old life's rest and the new life
        // where a failover's promoted server took over at or after this pod's position (the broker
        // judges that from what it reads). Else the history this pod had followed is gone:
        // whatever came after `from` in it is lost.
        if (latest && !this.newLifeIsGap) missed = await readHistory(room, formatSeq(from.epoch, from.position), true);
        lifeLost = !missed?.recovered;
        if (lifeLost && !latest) gap();
      }
      if (latest) {
        // In a new life (or a first one) everything in it is new here, from its start. Across, as
        // above: a failover's new life may have begun since the read above (its first publication
        // in between, as in a planned CLUSTER FAILOVER under load), which this read then covers as
        // the branch above would, where the members were told to recover for nothing.
        if (!missed?.recovered) missed = await readHistory(room, formatSeq(latest.epoch, sameLife ? from.position : 0), !this.newLifeIsGap);
        if (missed.recovered) {
          // The members' `recovery` names the newest position this read saw: what it delivers next
          // is at or before it, and what arrives live after it follows.
          if (lifeLost) {
            latestSeq = missed.latestSeq ?? latestSeq;
            gap();
          }
          for (const publication of missed.publications) this.deliverInOrder(feed, publication, parseSeq(publication.seq)!);
          // Caught up with a new life that has carried nothing yet: a second resync before its
          // first publication starts from here, instead of reporting the old life's gap again.
          if (feed.last?.epoch !== latest.epoch) this.moveTo(feed, latest);
        } else {
          // What is declared lost is not delivered late: only publications after the latest this
          // read saw follow (a later life's, when one began since the first read), and the members'
          // `recovery` names it, not an older life's position they would rejoin from.
          latestSeq = missed.latestSeq ?? latestSeq;
          this.moveTo(feed, parseSeq(latestSeq!)!);
          gap();
        }
      }
    } catch (error) {
      if (!gapReported && !this.brokerAvailable()) {
        // Lost again before the catch-up could read (a primary switching twice, a second blip):
        // nothing is proven missing yet. The resync that follows catches the room up from the
        // same point, what arrived live meanwhile included (catchUpAll), where telling its members
        // to recover now would cost each of them a reload for nothing.
        deferred = true;
        this.heldForResync.add(feed);
        return;
      }
      if (error instanceof StaleReadError) this.logger.warn({ message: `${error.message}; members are told to recover`, room });
      else this.logger.warn({ message: 'Catch-up after reconnect failed', room, error: describeError(error) });
      gap();
    } finally {
      if (!deferred) this.deliverHeld(feed);
    }
  }

  /** After a catch-up: what the feed held while it ran is delivered, in order, and its waiters are told. */
  private deliverHeld(feed: RoomFeed): void {
    const pending = feed.pending ?? [];
    feed.pending = undefined;
    for (const [delivery, at] of pending) {
      if (at === undefined) this.emit(delivery);
      else this.deliverInOrder(feed, delivery, at);
    }
    this.releaseWaiters(feed);
  }

  /**
   * Continues the feed from `at`, as if it had delivered everything up to it. Never back to an
   * earlier life than the feed delivered in: a catch-up's later read may have carried it past the
   * `latest` its first read saw (a failover between the two), and what it delivered would come again.
   */
  private moveTo(feed: RoomFeed, at: ParsedSeq): void {
    if (feed.last && isEarlierLife(at.epoch, feed.last.epoch)) return;
    feed.last = at;
    // Positions delivered in another life say nothing about this one's.
    feed.recent = undefined;
  }

  /** Tells the room's members on this pod that it cannot prove they missed nothing. */
  private reportGap(room: string, latestSeq: string | null): void {
    this.gaps.add(room);
    this.emit({ kind: 'gap', room, latestSeq });
  }

  /**
   * Drops what this pod already delivered (same epoch, position not after the last). A position
   * already delivered that comes back with another publication means Redis lost writes this pod
   * had delivered and reused their positions (a primary failed over before replicating them):
   * the members are told to recover, then get the new publication.
   */
  private deliverInOrder(feed: RoomFeed, publication: Publication, at: ParsedSeq): void {
    if (feed.last && isEarlierLife(at.epoch, feed.last.epoch)) {
      // Written in a life this room has left: a deposed primary that woke up after the failover
      // and ran a write queued for it, which its successor never holds.
      this.logger.debug({ message: 'Dropped a publication of an earlier history life', room: publication.room });
      return;
    }
    if (feed.last && feed.last.epoch === at.epoch && at.position <= feed.last.position) {
      const delivered = feed.recent?.find(([position]) => position === at.position);
      if (delivered === undefined || delivered[1] === publication.publishedAtMs) return;
      this.logger.warn({ message: 'Redis reused positions this pod had delivered (writes lost in a failover)', room: publication.room, position: at.position });
      feed.recent = feed.recent?.filter(([position]) => position < at.position);
      this.reportGap(publication.room, formatSeq(at.epoch, at.position - 1));
    }
    // Positions delivered in another life say nothing about this one's (a repeat is told by its position in the same life).
    if (feed.last?.epoch !== at.epoch) feed.recent = undefined;
    feed.last = at;
    feed.recent ??= [];
    feed.recent.push([at.position, publication.publishedAtMs]);
    if (feed.recent.length > RECENT_POSITIONS) feed.recent.shift();
    if (this.replaySize > 0 && !isPersonalRoom(publication.room)) this.keepForReplay(publication, at);
    this.emit(publication);
    // A join may wait for this position (settled); a map size is all the common case costs.
    if (this.settledWaiters.size > 0) this.releaseWaiters(feed);
  }

  /** Adds a delivered publication to its room's replay, which restarts from it unless it is the next position. */
  private keepForReplay(publication: Publication, at: ParsedSeq): void {
    const kept = this.replays.get(publication.room);
    if (!kept || kept.last.epoch !== at.epoch || kept.last.position + 1 !== at.position) {
      this.replays.set(publication.room, { publications: [publication], last: at });
      return;
    }
    kept.publications.push(publication);
    kept.last = at;
    if (kept.publications.length > this.replaySize) kept.publications.shift();
  }
}

/** How often, and how far apart, a room is read whose answer comes from a life this pod has left (readCurrent). */
const STALE_READ_TRIES = 4;
const STALE_READ_RETRY_MS = 250;

/** A join answers it `unavailable` (it may be tried again); a catch-up tells the room's members to recover. */
export class StaleReadError extends BrokerUnavailableError {
  constructor() {
    super('Redis kept answering from a history life this pod has left (a deposed primary)');
  }
}

/**
 * Whether `at` comes after positions this pod never received since `from`: in the same life,
 * any past the next; in another (a failover's or a lost Redis's new epoch), any past its first.
 * Not from UNKNOWN_ANCHOR, which proves nothing either way.
 */
function skipsPositions(from: Anchor, at: ParsedSeq, newLifeIsGap: boolean): boolean {
  if (from === UNKNOWN_ANCHOR || (from.epoch !== null && isEarlierLife(at.epoch, from.epoch))) return false;
  // With newLifeIsGap (RoomFeeds), any later life: the old one may have ended in writes never seen here.
  if (newLifeIsGap && from.epoch !== null && from.epoch !== at.epoch) return true;
  return at.position > (from.epoch === at.epoch ? from.position : 0) + 1;
}

/** Whether `at` is in a later life than the one `from` stands in (not from a room without history, nor UNKNOWN_ANCHOR). */
function opensLaterLife(from: Anchor, at: ParsedSeq): boolean {
  return from !== UNKNOWN_ANCHOR && from.epoch !== null && from.epoch !== at.epoch && !isEarlierLife(at.epoch, from.epoch);
}

/**
 * Whether the feed has delivered `target` or moved past it: a position at or after it in its
 * life, or any in a later life. Not a feed that stands nowhere known yet (no anchor, a room with
 * no history when followed, UNKNOWN_ANCHOR): the publication may still come.
 */
function hasDelivered(feed: RoomFeed, target: ParsedSeq): boolean {
  const at = standingOf(feed);
  if (at === undefined) return false;
  return at.epoch === target.epoch ? at.position >= target.position : isEarlierLife(target.epoch, at.epoch);
}

/**
 * Where a feed stands for sure: the last publication it delivered, else its anchor; undefined
 * before its anchor is known, after it could not be read (UNKNOWN_ANCHOR), or for a room that
 * had no history life when followed.
 */
function standingOf(feed: RoomFeed): Readonly<ParsedSeq> | undefined {
  const at = feed.last ?? (feed.anchor === UNKNOWN_ANCHOR ? undefined : feed.anchor);
  // The feed's own (read-only) position: asked on every join of a followed room, not copied.
  return at?.epoch ? (at as Readonly<ParsedSeq>) : undefined;
}

/**
 * Whether `epoch` began before `than` did: epochs start with the time of their creation
 * (EPOCH_TIME_DIGITS, seq.ts), so one created earlier sorts first; the same instant tells nothing.
 */
function isEarlierLife(epoch: string, than: string): boolean {
  // Asked of every live publication: the same life, the common answer, costs no slicing.
  if (epoch === than) return false;
  return epoch.slice(0, EPOCH_TIME_DIGITS) < than.slice(0, EPOCH_TIME_DIGITS);
}
