/** The most a pass of evictions goes below its budget (see evictionTargetBytes). */
const EVICTION_HEADROOM_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Where a pass of evictions stops once a store is past `budgetBytes`: an eighth below it, at
 * most 4 MB. Stopping at the budget itself made every later write evict one item, each pass
 * walking its Map or Set from the oldest entry, past every entry deleted since the last rehash
 * (V8 leaves them in place): the embedded broker's publishes turned 50 times dearer once its
 * history budget was full. With the headroom a flood costs one pass every few MB, and one pass
 * lets go of a few thousand items, a millisecond or two.
 */
export function evictionTargetBytes(budgetBytes: number): number {
  return budgetBytes - Math.min(EVICTION_HEADROOM_MAX_BYTES, budgetBytes / 8);
}
