import { Logger } from '@nestjs/common';
import { Delivery, HistoryResult, Publication } from '../broker';
import { ParsedSeq, formatSeq, parseSeq } from '../seq';
import { describeError } from './redis.client';

/** This pod's view of one subscribed room. */
export interface RoomFeed {
  /** The last publication delivered here: drops repeats, and is where catch-up starts. */
  last: ParsedSeq | undefined;
  /**
   * The room's latest position when this pod subscribed (epoch null: the room had no history):
   * where catch-up starts if nothing was delivered since.
   */
  anchor: { epoch: string | null; position: number } | undefined;
  /** Set while catching up after a reconnect: live publications wait here, with their position. */
  pending: Array<[Publication, ParsedSeq]> | undefined;
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

/** The anchor of every room that had no history when followed: one object for all of them. */
const NO_HISTORY_ANCHOR = Object.freeze({ epoch: null, position: 0 });

/** Reads a room's history (RedisBroker.history). */
type HistoryReader = (room: string, since?: string) => Promise<HistoryResult>;

/**
 * The rooms this pod subscribes to on Redis, each with where its delivery stands, so that live
 * messages and catch-up after a reconnect reach the delivery listener once and in order.
 * Pub/Sub is at most once: whatever the subscriber missed while away is read back from the
 * room's history, and when history cannot cover the gap the room gets a HistoryGap instead of
 * silence.
 */
export class RoomFeeds {
  private readonly logger = new Logger(RoomFeeds.name);
  private readonly feeds = new Map<string, RoomFeed>();

  constructor(
    private readonly readHistory: HistoryReader,
    private readonly emit: (delivery: Delivery) => void,
  ) {}

  get size(): number {
    return this.feeds.size;
  }

  has(room: string): boolean {
    return this.feeds.has(room);
  }

  /** Starts following a room; `anchor` it once its latest position is known. */
  open(room: string): RoomFeed {
    const feed: RoomFeed = { last: undefined, anchor: undefined, pending: undefined, recent: undefined };
    this.feeds.set(room, feed);
    return feed;
  }

  /** Where catch-up starts if nothing is delivered before the next reconnect. */
  anchor(feed: RoomFeed, latest: { epoch: string; latestPosition: number } | null): void {
    feed.anchor = latest ? { epoch: latest.epoch, position: latest.latestPosition } : NO_HISTORY_ANCHOR;
  }

  /** Stops following a room; with `feed`, only if it is still that opening's feed. */
  close(room: string, feed?: RoomFeed): boolean {
    if (feed !== undefined && this.feeds.get(room) !== feed) return false;
    return this.feeds.delete(room);
  }

  clear(): void {
    this.feeds.clear();
  }

  /**
   * A live publication from the channel; dropped for a room no longer followed (in flight when
   * it left). One that skips positions (same epoch) means the subscription missed some, as when
   * a Cluster slot moves between primaries: the room catches up from history first.
   */
  receive(publication: Publication, at: ParsedSeq): void {
    const feed = this.feeds.get(publication.room);
    if (!feed) return;
    const from = feed.last ?? feed.anchor;
    if (!feed.pending && from?.epoch === at.epoch && at.position > from.position + 1) {
      this.logger.debug({ message: 'A live publication skipped positions; catching the room up', room: publication.room, from: from.position, at: at.position });
      // Sets `pending` before its first await, so this publication waits behind what it skipped.
      void this.catchUp(publication.room, feed);
    }
    if (feed.pending) feed.pending.push([publication, at]);
    else this.deliverInOrder(feed, publication, at);
  }

  /** After a reconnect: every room catches up on what this pod missed. */
  catchUpAll(): void {
    for (const [room, feed] of this.feeds) void this.catchUp(room, feed);
  }

  /**
   * Delivers what this pod missed while its subscriber was away, then the live backlog, in order.
   * When it cannot prove it missed nothing (the room's history is gone, began a new life because
   * Redis lost its data, or no longer reaches back), the room gets a HistoryGap (section 4's
   * `recovery`) instead of a silent gap.
   */
  private async catchUp(room: string, feed: RoomFeed): Promise<void> {
    const from = feed.last ?? feed.anchor;
    if (!from || feed.pending) return;
    feed.pending = [];
    let latestSeq: string | null = null;
    let gapReported = false;
    const gap = () => {
      if (!gapReported) this.reportGap(room, latestSeq);
      gapReported = true;
    };
    try {
      latestSeq = (await this.readHistory(room)).latestSeq;
      const latest = latestSeq === null ? undefined : parseSeq(latestSeq)!;
      const sameLife = latest !== undefined && latest.epoch === from.epoch;
      // The history this pod had followed is gone: whatever came after `from` in it is lost.
      if (from.epoch !== null && !sameLife) gap();
      if (latest) {
        // In a new life (or a first one) everything in it is new here, from its start.
        const missed = await this.readHistory(room, formatSeq(latest.epoch, sameLife ? from.position : 0));
        if (missed.recovered) {
          for (const publication of missed.publications) this.deliverInOrder(feed, publication, parseSeq(publication.seq)!);
          // Caught up with a new life that has carried nothing yet: a second resync before its
          // first publication starts from here, instead of reporting the old life's gap again.
          if (feed.last?.epoch !== latest.epoch) this.moveTo(feed, latest);
        } else {
          // What is declared lost is not delivered late: only publications after `latest` follow.
          this.moveTo(feed, latest);
          gap();
        }
      }
    } catch (error) {
      this.logger.warn({ message: 'Catch-up after reconnect failed', room, error: describeError(error) });
      gap();
    } finally {
      const pending = feed.pending ?? [];
      feed.pending = undefined;
      for (const [publication, at] of pending) this.deliverInOrder(feed, publication, at);
    }
  }

  /** Continues the feed from `at`, as if it had delivered everything up to it. */
  private moveTo(feed: RoomFeed, at: ParsedSeq): void {
    feed.last = at;
    // Positions delivered in another life say nothing about this one's.
    feed.recent = undefined;
  }

  /** Tells the room's members on this pod that it cannot prove they missed nothing. */
  private reportGap(room: string, latestSeq: string | null): void {
    this.logger.warn({ message: 'Room history did not cover the outage; members are told to recover', room });
    this.emit({ kind: 'gap', room, latestSeq });
  }

  /**
   * Drops what this pod already delivered (same epoch, position not after the last). A position
   * already delivered that comes back with another publication means Redis lost writes this pod
   * had delivered and reused their positions (a primary failed over before replicating them):
   * the members are told to recover, then get the new publication.
   */
  private deliverInOrder(feed: RoomFeed, publication: Publication, at: ParsedSeq): void {
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
    this.emit(publication);
  }
}
