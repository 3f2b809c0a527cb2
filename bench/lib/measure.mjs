import { totalCpuMicros } from './processes.mjs';

/** Server CPU (user + system, all of a target's live nodes) spent between start() and stop(). */
export class CpuWindow {
  constructor(pids) {
    this.pids = pids;
    this.startUs = totalCpuMicros(pids);
    this.startedAt = performance.now();
  }

  stop() {
    return { cpuUs: totalCpuMicros(this.pids) - this.startUs, wallMs: performance.now() - this.startedAt };
  }
}

export const round = (value, digits = 2) => (value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits);

/** Waits until `done()` or `timeoutMs`, polling every 20 ms; returns whether it got there. */
export async function until(done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
