import type { Logger } from '@nestjs/common';
import { isPersonalRoom } from '@herald/client/protocol';

/** How long reports are gathered into one line: a resync or an outage touches every room at once. */
const BURST_WINDOW_MS = 1000;
/** Room names a line quotes; personal rooms are only counted (their names are user ids). */
const EXAMPLE_ROOMS = 5;

/**
 * Logs one warning per burst of rooms something happened to, not one per room: after Redis lost
 * its data every room a pod follows has a gap at once, and a pod with 20,000 connections wrote
 * 20,000 lines; while Redis is frozen every room its members leave fails to unsubscribe. The
 * first report's error, if any, stands for the burst's.
 */
export class RoomBurstLog {
  private pending: { rooms: number; personalRooms: number; examples: string[]; error?: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
  ) {}

  add(room: string, error?: string): void {
    if (!this.pending) {
      this.pending = { rooms: 0, personalRooms: 0, examples: [], ...(error === undefined ? {} : { error }) };
      this.timer = setTimeout(() => this.flush(), BURST_WINDOW_MS);
      this.timer.unref();
    }
    this.pending.rooms += 1;
    if (isPersonalRoom(room)) this.pending.personalRooms += 1;
    else if (this.pending.examples.length < EXAMPLE_ROOMS) this.pending.examples.push(room);
  }

  /** Writes what was gathered, now (and when closing, so no timer outlives its owner). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const gathered = this.pending;
    this.pending = undefined;
    if (gathered) this.logger.warn({ message: this.message, ...gathered });
  }
}
