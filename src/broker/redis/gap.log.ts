import type { Logger } from '@nestjs/common';
import { isPersonalRoom } from '@herald/client/protocol';

/** How long gap reports are gathered into one line: a resync finds every followed room's at once. */
const GAP_LOG_WINDOW_MS = 1000;
/** Room names a line quotes; personal rooms are only counted (their names are user ids). */
const EXAMPLE_ROOMS = 5;

/**
 * Logs the rooms whose history did not cover an outage as one warning per burst, not one per
 * room: after Redis lost its data every room a pod follows has a gap at once, its connections'
 * personal rooms among them, and a pod with 20,000 connections wrote 20,000 lines.
 */
export class GapLog {
  private pending: { rooms: number; personalRooms: number; examples: string[] } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger) {}

  add(room: string): void {
    if (!this.pending) {
      this.pending = { rooms: 0, personalRooms: 0, examples: [] };
      this.timer = setTimeout(() => this.flush(), GAP_LOG_WINDOW_MS);
      this.timer.unref();
    }
    this.pending.rooms += 1;
    if (isPersonalRoom(room)) this.pending.personalRooms += 1;
    else if (this.pending.examples.length < EXAMPLE_ROOMS) this.pending.examples.push(room);
  }

  /** Writes what was gathered, now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const gathered = this.pending;
    this.pending = undefined;
    if (gathered) this.logger.warn({ message: 'Room history did not cover the outage; members are told to recover', ...gathered });
  }
}
