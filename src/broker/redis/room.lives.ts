import { Logger } from '@nestjs/common';
import { BrokerUnavailableError } from '../broker';
import type { BatchWindow } from './batch-window';
import { callGroups } from './call-groups';
import { describeError } from './redis.client';
import type { RedisConnection } from './redis.connection';
import { sliceGapMs } from './slice-gap';

/** Most rooms one call extends: one script call, bounded in its size like any other. */
const MOST_ROOMS_PER_CALL = 500;

/** Rooms per slice of a paced extension (extendAll): on a Cluster about one call each. */
const ROOMS_PER_SLICE = 100;

export interface RoomLivesOptions {
  historyTtlS: number;
  /** Rooms whose meta keys give the same value may share a call: one value on one Redis, the slot on a Cluster. */
  groupOf: (meta: string) => number;
}

/**
 * Keeps rooms' history lives (their epoch, in the meta key) going for another HISTORY_TTL_S,
 * for every room asked for in one batch window with one script call (heraldExtendRoomLives).
 * RedisBroker asks for the rooms it follows on a timer and for a room when its last member here
 * leaves, so a room's epoch lasts while any pod follows it and for HISTORY_TTL_S after, as in
 * the memory broker: a seq a join handed out stays a `since` that recovers what comes later
 * (docs/protocol.md section 9). Nothing is started: a room without a life stays without.
 */
export class RoomLives {
  private readonly logger = new Logger(RoomLives.name);
  private pending: string[] | undefined;
  /** The next slice of the paced extension under way (extendAll). */
  private sliceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: Pick<RedisConnection, 'run'>,
    private readonly window: BatchWindow,
    private readonly options: RoomLivesOptions,
  ) {}

  /** Extends the life of the room whose meta key this is, with the window's others. */
  extend(meta: string): void {
    if (!this.pending) {
      this.pending = [];
      this.window.schedule(() => this.flush());
    }
    this.pending.push(meta);
  }

  /**
   * Extends every room of `metas`, ROOMS_PER_SLICE at a time, the slices spread over `withinMs`
   * (sliceGapMs apart). On a Cluster rooms in different slots cannot share a call, so all of a
   * pod's followed rooms at once (one personal room per user) were thousands of calls in one
   * turn: the pod stalled for tens of milliseconds every HISTORY_TTL_S / 3. A round still under
   * way when the next begins gives way to it: the new round holds every room still followed.
   */
  extendAll(metas: readonly string[], withinMs: number): void {
    clearTimeout(this.sliceTimer);
    const gapMs = sliceGapMs(Math.ceil(metas.length / ROOMS_PER_SLICE), withinMs);
    let next = 0;
    const sendSlice = () => {
      this.sliceTimer = undefined;
      const end = Math.min(metas.length, next + ROOMS_PER_SLICE);
      for (; next < end; next++) this.extend(metas[next]);
      if (next < metas.length) {
        this.sliceTimer = setTimeout(sendSlice, gapMs);
        this.sliceTimer.unref();
      }
    };
    sendSlice();
  }

  /** Stops the paced extension under way; what was asked for already goes with its window. */
  close(): void {
    clearTimeout(this.sliceTimer);
    this.sliceTimer = undefined;
  }

  private flush(): void {
    const batch = this.pending ?? [];
    this.pending = undefined;
    let reported = false;
    const reportOnce = (error: unknown) => {
      // Never a false `recovered: true`: a life that lapses meanwhile becomes a new epoch, and an
      // old `since` then answers recovered: false. One line per flush, however many calls failed;
      // an unreachable Redis is reported by the connection already.
      if (reported) return;
      reported = true;
      const entry = { message: 'Could not extend the history life of rooms', rooms: batch.length, error: describeError(error) };
      if (error instanceof BrokerUnavailableError) this.logger.debug(entry);
      else this.logger.warn(entry);
    };
    for (const metaKeys of callGroups(batch, this.options.groupOf, { items: MOST_ROOMS_PER_CALL })) {
      this.connection.run('extend room lives', (redis) => redis.heraldExtendRoomLives(metaKeys, this.options.historyTtlS)).catch(reportOnce);
    }
  }
}
