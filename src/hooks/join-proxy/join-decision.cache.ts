/**
 * Allow decisions remembered by key (`joinDecisionKey`: user, room and claims) until their ttl
 * ends, at most `maxEntries` (the oldest go first). A Map keeps insertion order, which is all
 * the eviction needs.
 */
export class JoinDecisionCache {
  private readonly expiresAtMs = new Map<string, number>();

  constructor(private readonly maxEntries: number) {}

  allows(key: string, nowMs: number): boolean {
    const expiresAt = this.expiresAtMs.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > nowMs) return true;
    this.expiresAtMs.delete(key);
    return false;
  }

  remember(key: string, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
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
}
