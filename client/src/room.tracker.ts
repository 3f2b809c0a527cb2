/**
 * The rooms a client wants to be in, with what it needs to rejoin them without loss:
 * the last `seq` seen per room (sent back as `since`) and a bounded window of recent seqs
 * to drop duplicates. A `seq` is opaque: it is only ever compared for equality.
 */
export class RoomTracker {
  readonly #rooms = new Map<string, { since: string | null; seen: Set<string> }>();

  constructor(private readonly dedupeWindow: number) {}

  /** Returns false when the room was already tracked. */
  add(room: string): boolean {
    if (this.#rooms.has(room)) return false;
    this.#rooms.set(room, { since: null, seen: new Set() });
    return true;
  }

  forget(room: string): void {
    this.#rooms.delete(room);
  }

  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  names(): string[] {
    return [...this.#rooms.keys()];
  }

  sinceOf(room: string): string | null {
    return this.#rooms.get(room)?.since ?? null;
  }

  /**
   * Records a message of `room`. Returns false for a duplicate, which the caller drops.
   * Messages of rooms that are not tracked are always accepted.
   */
  accept(room: string, seq: string): boolean {
    const state = this.#rooms.get(room);
    if (!state) return true;
    // The server sends a room's messages in order, so the latest frame is the newest position,
    // duplicates included (a replay ends on the newest message it holds).
    state.since = seq;
    if (state.seen.has(seq)) return false;
    state.seen.add(seq);
    if (state.seen.size > this.dedupeWindow) {
      const oldest = state.seen.values().next().value as string;
      state.seen.delete(oldest);
    }
    return true;
  }

  /**
   * Applies a `joined` reply: the room's latest seq becomes the starting point when nothing
   * was seen yet, or replaces a position the history no longer reaches (`recovered: false`).
   */
  joined(room: string, seq: string | null, recovered: boolean | undefined): void {
    const state = this.#rooms.get(room);
    if (!state || seq === null) return;
    if (state.since === null || recovered === false) state.since = seq;
  }
}
