import type { BatchWindow } from './batch-window';
import { callGroups } from './call-groups';
import type { RedisConnection } from './redis.connection';
import type { RoomLatest } from './room.scripts';

/** Most rooms one read asks for: one script call, bounded in its size like any other. */
const MOST_ROOMS_PER_READ = 500;

/** Told where a room stands (null: it has no history), or why that could not be read. */
export type LatestPositionCallback = (error: unknown, latest?: RoomLatest | null) => void;

interface PendingRead {
  meta: string;
  /** The channel the room's messages come on. */
  channel: string;
  answer: LatestPositionCallback;
}

/**
 * Where each newly followed personal room stands (its epoch and latest position), read for every
 * room asked for in one batch window (BatchWindow): admission follows each connection's personal
 * room, and a burst of connections was a burst of single reads. Rooms whose keys may share a
 * script call (`groupOf`: one group on one Redis, a slot on a Cluster) are read in one call; the
 * reads start nothing in Redis (heraldLatestPositions), so a room that never carries a message
 * leaves no key behind; a life they find they extend, as the pod's followed rooms are. Nothing
 * waits for these reads but a join of, or a delivery to, a room followed just now, which hurry them.
 */
export class LatestPositions {
  private pending: PendingRead[] | undefined;

  constructor(
    private readonly connection: Pick<RedisConnection, 'attempt' | 'flushChannel'>,
    private readonly window: BatchWindow,
    /** Rooms whose meta keys give the same value may share a call. */
    private readonly groupOf: (meta: string) => number,
    /** How long a life found is extended for (HISTORY_TTL_S). */
    private readonly historyTtlS: number,
  ) {}

  /**
   * Reads the room's latest position (`meta` is the room's meta key) with the window's others;
   * a callback rather than a promise: every admission asks, and nothing awaits the answer.
   */
  read(meta: string, channel: string, answer: LatestPositionCallback): void {
    if (!this.pending) {
      this.pending = [];
      this.window.schedule(() => this.flush());
    }
    this.pending.push({ meta, channel, answer });
  }

  /**
   * Sends the reads waiting for the window now: someone waits for one of them (RoomFeeds tells
   * when a join waits for a feed, or a live delivery is held back, until its anchor is known).
   */
  hurry(): void {
    if (this.pending) this.flush();
  }

  private flush(): void {
    const batch = this.pending ?? [];
    this.pending = undefined;
    for (const reads of callGroups(batch, (read) => this.groupOf(read.meta), { items: MOST_ROOMS_PER_READ })) {
      this.connection
        // `attempt`, as a subscribe's anchor always was: it runs whenever the command connection is up.
        .attempt('history', (redis) => redis.heraldLatestPositions(reads.map((read) => read.meta), this.historyTtlS))
        // Answered once the messages the read counted have arrived (RedisConnection.flushChannel:
        // the rooms of one call come on one subscriber, so one flush covers them all). A failed
        // flush answers all the same: the subscriber is down, and its resync catches up.
        .then((latest) => this.connection.flushChannel(reads[0].channel).then(() => latest, () => latest))
        .then(
          (latest) => reads.forEach((read, index) => read.answer(undefined, latest[index] ?? null)),
          (error: unknown) => reads.forEach((read) => read.answer(error ?? new Error('Reading latest positions failed'))),
        );
    }
  }
}
