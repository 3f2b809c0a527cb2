import type { ChatMessage, Joined, Notification } from './protocol.ts';

/** A room's `message` or `notification` frame, as the app gets it. */
export type RoomFrame = { event: 'message'; data: ChatMessage } | { event: 'notification'; data: Notification };

/** Hands a frame to the app. */
export type Delivery = (frame: RoomFrame) => void;

/**
 * Where a room stands on the current connection:
 * - `awaiting`: its join has no reply yet. The server may already be sending it live frames
 *   (it puts every connection in its personal room at welcome; a room whose join timed out on
 *   our side may be joined on the server's), which are newer than what the reply's replay
 *   will bring: they are held until then, and never move `since`.
 * - `replaying`: the reply came; `replayLeft` frames of its replay follow, then what was held.
 * - `live`: frames are delivered as they come.
 */
type Phase = 'awaiting' | 'replaying' | 'live';

interface RoomState {
  /** Where a rejoin resumes from: the last seq delivered, sent back as `since`. */
  since: string | null;
  /** Recent seqs delivered, to drop duplicates. */
  seen: Set<string>;
  phase: Phase;
  held: RoomFrame[];
  /** More frames came than `held` may keep: the rest are dropped until the reply. */
  overflowed: boolean;
  replayLeft: number;
  /** With `recovered: true`, the room's seq at the join: the replay holds every frame up to it. */
  replayedTo: string | null;
}

/**
 * The rooms a client wants to be in, with what it needs to rejoin them without loss: the last
 * `seq` delivered per room (sent back as `since`), a bounded window of recent seqs to drop
 * duplicates, and the live frames that arrive before a join's reply, held so that the app gets
 * the replay first. Seqs are compared for equality, and ordered (docs/protocol.md allows it:
 * within a room later seqs sort after earlier ones as plain strings) only to drop a held frame
 * that the replay already had and to keep `since` from moving back.
 */
export class RoomTracker {
  readonly #rooms = new Map<string, RoomState>();
  readonly #dedupeWindow: number;
  readonly #heldMax: number;
  readonly #deliver: Delivery;

  /**
   * `heldMax` defaults to the dedupe window: the frames held for one room then never outnumber
   * the seqs remembered to drop their duplicates.
   */
  constructor(deliver: Delivery, dedupeWindow: number, heldMax = dedupeWindow) {
    this.#deliver = deliver;
    this.#dedupeWindow = dedupeWindow;
    this.#heldMax = heldMax;
  }

  /** Returns false when the room was already tracked. */
  add(room: string): boolean {
    if (this.#rooms.has(room)) return false;
    this.#rooms.set(room, { since: null, seen: new Set(), phase: 'awaiting', held: [], overflowed: false, replayLeft: 0, replayedTo: null });
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
   * A `message` or `notification` of `room`: delivered now, held until the room's join reply
   * and its replay, or dropped as a duplicate. Frames of rooms that are not tracked are always
   * delivered.
   */
  receive(frame: RoomFrame): void {
    const { room, seq } = frame.data;
    const state = this.#rooms.get(room);
    if (!state) return this.#deliver(frame);
    if (state.phase === 'awaiting') return this.#hold(state, frame);
    if (this.#accept(state, seq)) this.#deliver(frame);
    if (state.phase === 'replaying' && --state.replayLeft <= 0) this.#release(room, state);
  }

  /**
   * Applies a join's reply, as soon as it is read (its replay follows it at once): the room's
   * latest seq becomes the starting point when nothing was delivered yet, or replaces a position
   * the history no longer reaches (`recovered: false`). The `missed` frames that follow are the
   * replay; what was held is delivered after them.
   */
  joined(room: string, joined: Joined): void {
    const state = this.#rooms.get(room);
    if (!state) return;
    const seq = joined.seq ?? null;
    if (seq !== null && (state.since === null || joined.recovered === false)) state.since = seq;
    state.overflowed = false;
    state.replayedTo = joined.recovered === true ? seq : null;
    state.replayLeft = joined.recovered === true ? (joined.missed ?? 0) : 0;
    if (state.replayLeft > 0) state.phase = 'replaying';
    else this.#release(room, state);
  }

  /**
   * The room's join failed (refused for now, or unanswered): what was held is dropped, `since`
   * unchanged, so the next join's replay brings it again. Frames keep being held for that join.
   */
  joinFailed(room: string): void {
    const state = this.#rooms.get(room);
    if (!state || state.phase !== 'awaiting') return;
    state.held = [];
    state.overflowed = false;
  }

  /**
   * The server told, unprompted, that it cannot prove continuity in `room`: resume from its
   * current seq, and true: the app reloads. False for a room not tracked, or whose join is not
   * answered yet on this connection (a rejoin refused for now, a personal room the server holds
   * from welcome): that answer says whether its `since` recovered, replaying from there. Moved
   * to this seq, the rejoin skipped publications the history still held.
   */
  restartAt(room: string, seq: string | null): boolean {
    const state = this.#rooms.get(room);
    if (!state || state.phase === 'awaiting') return false;
    if (seq !== null) state.since = seq;
    return true;
  }

  /**
   * The connection dropped: no room is joined any more. What was held is dropped, `since`
   * unchanged, so each room's rejoin replays it.
   */
  disconnected(): void {
    for (const state of this.#rooms.values()) {
      state.phase = 'awaiting';
      state.held = [];
      state.overflowed = false;
      state.replayLeft = 0;
      state.replayedTo = null;
    }
  }

  #hold(state: RoomState, frame: RoomFrame): void {
    if (state.overflowed) return;
    if (state.held.length < this.#heldMax) {
      state.held.push(frame);
      return;
    }
    // The reply's replay brings all of them again (contract, section 4: the replay comes before
    // any newer message), or says recovered: false. Holding more would only cost memory.
    state.held = [];
    state.overflowed = true;
  }

  /** The replay is over: delivers what was held, in order, minus what the replay had. */
  #release(room: string, state: RoomState): void {
    const held = state.held;
    state.held = [];
    state.phase = 'live';
    for (const frame of held) {
      // A listener may have left the room, or closed the client, while we deliver.
      if (this.#rooms.get(room) !== state || state.phase !== 'live') return;
      const { seq } = frame.data;
      if (state.replayedTo !== null && seq <= state.replayedTo) continue;
      if (!this.#firstSighting(state, seq)) continue;
      // Held frames may predate the reply's seq (a first join, or recovered: false): never go back.
      if (state.since === null || seq > state.since) state.since = seq;
      this.#deliver(frame);
    }
  }

  /** A frame in the server's order. Returns false for a duplicate, which the caller drops. */
  #accept(state: RoomState, seq: string): boolean {
    // The server sends a room's messages in order, so the latest frame is the newest position,
    // duplicates included (a replay ends on the newest message it holds).
    state.since = seq;
    return this.#firstSighting(state, seq);
  }

  #firstSighting(state: RoomState, seq: string): boolean {
    if (state.seen.has(seq)) return false;
    state.seen.add(seq);
    if (state.seen.size > this.#dedupeWindow) {
      const oldest = state.seen.values().next().value as string;
      state.seen.delete(oldest);
    }
    return true;
  }
}
