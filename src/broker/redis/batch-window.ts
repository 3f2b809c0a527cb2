/**
 * Gathers the batched Redis calls of a pod (the anchors of newly followed rooms, presence counts
 * and removes) for REDIS_BATCH_WINDOW_MS and sends them in one timer callback: node-redis writes
 * whatever was queued in one turn of the event loop as one write, and on loopback or in a
 * container each write to Redis (and the wake-up of Redis it causes) costs more CPU than the
 * script it carries. Batched per turn instead, a burst of admissions sent a script, and a write,
 * every other connection. Nothing a client waits for waits for the window: `welcome` and `joined`
 * are sent before either call returns, and a join or delivery that needs where a room just
 * followed stands sends those reads at once (LatestPositions.hurry).
 */
export class BatchWindow {
  private flushes: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  /** `windowMs` 0: the calls of one turn of the event loop go together, as setImmediate batches them. */
  constructor(private readonly windowMs: number) {}

  /** Runs `flush` at the end of the current window, with every other flush scheduled in it. */
  schedule(flush: () => void): void {
    this.flushes.push(flush);
    if (this.flushes.length > 1) return;
    if (this.windowMs === 0) setImmediate(this.run);
    else this.timer = setTimeout(this.run, this.windowMs);
  }

  /** Runs what waits now; for a connection about to close. */
  flushNow(): void {
    clearTimeout(this.timer);
    this.run();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    const flushes = this.flushes;
    this.flushes = [];
    for (const flush of flushes) flush();
  };
}
