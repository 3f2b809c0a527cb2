/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days), so longer ones are cut to it. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A delay setTimeout keeps: at most MAX_TIMER_MS, and 0 for anything negative or not a number. */
export function timerDelayMs(ms: number): number {
  if (Number.isNaN(ms)) return 0;
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
