/** Longest pause between two slices of upkeep spread over time: a few slices are no burst worth spreading. */
const MAX_SLICE_GAP_MS = 100;

/**
 * The pause between `slices` slices of a pod's upkeep (a presence refresh, the extension of the
 * rooms' lives) spread over `withinMs`, at most MAX_SLICE_GAP_MS; 0 for a single slice. Sent at
 * once, a pod's thousands of rooms or entries held its command connection, Redis, or its own
 * event loop for tens of milliseconds every period.
 */
export function sliceGapMs(slices: number, withinMs: number): number {
  return slices > 1 ? Math.min(MAX_SLICE_GAP_MS, Math.floor(withinMs / slices)) : 0;
}
