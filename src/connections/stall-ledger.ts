/**
 * The time this pod itself lost: how late each heartbeat sweep ran (a long GC, CPU throttled by
 * its container's limit, a paused VM or process, an event loop busy with other work). The sweep
 * sends the pings that idle clients answer, so a client cannot be blamed for silence the pod
 * caused: a connection's silence counts only the time the pod was running (HeartbeatService).
 *
 * Only late sweeps are recorded, newest last, each with when it ran; a connection asks for the
 * lateness since it was last heard from. Bounded: the oldest entries go first, and entries older
 * than any silence still judged are forgotten.
 */
export class StallLedger {
  /** [when the late sweep ran, how late it was], oldest first. */
  private readonly stalls: Array<[endMs: number, lateMs: number]> = [];

  constructor(private readonly capacity = MAX_STALLS) {}

  /** A sweep ran at `nowMs`, `lateMs` after it was due; nothing is recorded for one on time. */
  record(nowMs: number, lateMs: number): void {
    if (lateMs <= 0) return;
    this.stalls.push([nowMs, lateMs]);
    if (this.stalls.length > this.capacity) this.stalls.shift();
  }

  /** The time lost after `sinceMs` (by sweeps that ran after it). */
  lostSince(sinceMs: number): number {
    let lost = 0;
    for (let index = this.stalls.length - 1; index >= 0 && this.stalls[index][0] > sinceMs; index--) lost += this.stalls[index][1];
    return lost;
  }

  /** Forgets what ended before `beforeMs`: no silence judged now reaches back that far. */
  forgetBefore(beforeMs: number): void {
    let stale = 0;
    while (stale < this.stalls.length && this.stalls[stale][0] < beforeMs) stale++;
    if (stale > 0) this.stalls.splice(0, stale);
  }

  get size(): number {
    return this.stalls.length;
  }
}

/** A late sweep a tick: a pod late on every one keeps about five heartbeats' worth at the default. */
const MAX_STALLS = 128;
