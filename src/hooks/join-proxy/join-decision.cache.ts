/**
 * Entries a use of the cache (a lookup or a remember) looks at besides the oldest: more than the
 * one a use can add, so the look goes round the whole cache (see `dropExpired`).
 */
const SWEEP_STEP = 2;

/**
 * Allow decisions remembered by key (`joinDecisionKey`: user, room and claims) until their ttl
 * ends, at most `maxEntries` (the oldest go first). A Map keeps insertion order, which is all
 * the eviction needs.
 *
 * Expired entries go as the cache is used, never by a scan of it all: each use drops the expired
 * ones at the oldest end (with one ttl for every decision, that is all of them), and looks at
 * SWEEP_STEP more where a sweep left off, for those behind a longer-lived entry. A use adds at
 * most one entry, so the sweep goes round the cache within `maxEntries` uses: an entry is gone at
 * most 2 x `maxEntries` uses after it expired. Before, dead entries stayed until the same key was
 * looked up again or the cap pushed them out.
 */
export class JoinDecisionCache {
  private readonly expiresAtMs = new Map<string, number>();
  /** Where the sweep is; a Map's iterator goes on through deletions and sees what is added after it. */
  private sweep: Iterator<[string, number]> = this.expiresAtMs.entries();

  constructor(private readonly maxEntries: number) {}

  allows(key: string, nowMs: number): boolean {
    this.dropExpired(nowMs);
    const expiresAt = this.expiresAtMs.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > nowMs) return true;
    this.expiresAtMs.delete(key);
    return false;
  }

  remember(key: string, expiresAtMs: number, nowMs: number): void {
    if (this.maxEntries === 0) return;
    this.dropExpired(nowMs);
    this.expiresAtMs.delete(key);
    this.expiresAtMs.set(key, expiresAtMs);
    if (this.expiresAtMs.size > this.maxEntries) this.expiresAtMs.delete(this.expiresAtMs.keys().next().value!);
  }

  get size(): number {
    return this.expiresAtMs.size;
  }

  clear(): void {
    this.expiresAtMs.clear();
  }

  private dropExpired(nowMs: number): void {
    // Each entry is dropped once: this loop costs nothing more over time than the entries it drops.
    for (const [key, expiresAt] of this.expiresAtMs) {
      if (expiresAt > nowMs) break;
      this.expiresAtMs.delete(key);
    }
    for (let step = 0; step < SWEEP_STEP; step++) {
      const next = this.sweep.next();
      if (next.done) {
        // A finished iterator stays finished, entries added since included: start a new round.
        this.sweep = this.expiresAtMs.entries();
        return;
      }
      const [key, expiresAt] = next.value;
      if (expiresAt <= nowMs) this.expiresAtMs.delete(key);
    }
  }
}
