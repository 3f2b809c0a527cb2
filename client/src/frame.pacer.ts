/**
 * Spaces out the requests a client sends so that it stays inside the server's per-connection
 * rate limit (contract, section 2: a bucket refilled at RATE_LIMIT_PER_S, default 20 a second,
 * holding twice that; more than twice that many frames dropped without a one-second pause close
 * the connection with 4029). Without it, a client in 60 rooms rejoined them in one burst after
 * every reconnect and the server answered the 21 joins past its burst `rate_limited`.
 *
 * The client cannot know the server's limit, so it starts small and learns it: a connection
 * starts with PACER_SLOW_START frames of budget, each reply that is not `rate_limited` lets the
 * burst grow by one up to PACER_BURST, and a `rate_limited` reply halves the burst and the rate
 * for good (on this client) and pauses every paced frame for a second and a little more, which
 * is what the server needs to forgive the drops (refusals read during that pause are of frames
 * sent before it, and change nothing more). Against the default limit it settles at a
 * burst of 30 and 15 frames a second, below the server's, so that the frames it does not pace
 * (the pongs to each heartbeat) still fit; against a lower limit it converges without 4029.
 * The burst grows only while requests wait for their turn, as TCP grows its window only while
 * the window is full: replies to a client that never used its budget say nothing of the
 * server's, and a burst grown on them sent a later batch of requests at once past a low limit.
 */
export const PACER_BURST = 30;
export const PACER_RATE_PER_S = 15;
/** The budget a fresh connection starts with: within even RATE_LIMIT_PER_S=1's burst and drop allowance (2 + 2). */
export const PACER_SLOW_START = 4;
/** The slowest pace `rate_limited` replies bring it to: under the lowest limit a server may set (1 a second). */
export const PACER_MIN_RATE_PER_S = 0.5;
/** After a `rate_limited` reply: the server forgives the drops after a one-second pause. */
export const PACER_LIMITED_PAUSE_MS = 1100;

export class FramePacer {
  readonly #queue: Array<() => boolean> = [];
  #burst: number;
  #ratePerS: number;
  /** What the burst may grow back to: lowered for good by each `rate_limited`. */
  #maxBurst: number;
  #tokens: number;
  #refilledAtMs: number;
  #pausedUntilMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    burst = PACER_BURST,
    ratePerS = PACER_RATE_PER_S,
    private readonly startTokens = Math.min(burst, PACER_SLOW_START),
  ) {
    this.#maxBurst = burst;
    this.#burst = startTokens;
    this.#ratePerS = ratePerS;
    this.#tokens = startTokens;
    this.#refilledAtMs = Date.now();
  }

  /**
   * Runs `send` now when the budget allows and nothing waits before it, else in turn, in the
   * order given; `urgent` (a token refresh) goes ahead of what waits. `send` returns false when
   * it wrote nothing, which costs no budget.
   */
  schedule(send: () => boolean, urgent = false): void {
    if (urgent) this.#queue.unshift(send);
    else this.#queue.push(send);
    this.#drain();
  }

  /** A reply to a paced request: `limited` when it was `rate_limited`. */
  replied(limited: boolean): void {
    if (!limited) {
      if (this.#queue.length > 0) this.#burst = Math.min(this.#maxBurst, this.#burst + 1);
      return;
    }
    // Nothing paced goes out during the pause, so a refusal read in it is of a frame sent before
    // the slow-down (or an unpaced pong in it): halving again for each of those frames brought a
    // burst of 4 down to 1 for good on one refused burst. The pause starts again all the same:
    // the server forgives drops after a second with none, counted from this one.
    if (Date.now() >= this.#pausedUntilMs) {
      this.#maxBurst = this.#burst = Math.max(1, Math.floor(this.#burst / 2));
      // Down to below one a second: against RATE_LIMIT_PER_S=1 a pace of one a second left no
      // token for the pong to each heartbeat, refused every time.
      this.#ratePerS = Math.max(PACER_MIN_RATE_PER_S, this.#ratePerS / 2);
    }
    this.#tokens = 0;
    this.#refilledAtMs = Date.now();
    this.#pausedUntilMs = this.#refilledAtMs + PACER_LIMITED_PAUSE_MS;
    // What waits goes after the pause, at the new rate.
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#drain();
  }

  /** A new connection: the server's bucket is full again, and nothing of the old one is sent. */
  reset(): void {
    this.cancel();
    this.#tokens = Math.min(this.#burst, this.startTokens);
    this.#refilledAtMs = Date.now();
    this.#pausedUntilMs = 0;
  }

  /** The connection is gone: what waits is dropped (its requests fail with `disconnected`). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #drain(): void {
    if (this.#timer !== undefined) return; // already waiting for the next token
    const nowMs = Date.now();
    if (nowMs < this.#pausedUntilMs) {
      if (this.#queue.length > 0) this.#wake(this.#pausedUntilMs - nowMs);
      return;
    }
    this.#refill(nowMs);
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      if (this.#queue.shift()!()) this.#tokens -= 1;
    }
    if (this.#queue.length === 0) return;
    this.#wake(Math.ceil(((1 - this.#tokens) * 1000) / this.#ratePerS));
  }

  #wake(afterMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, afterMs);
  }

  #refill(nowMs: number): void {
    // A pause counts: the server's bucket refilled during it too.
    this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#refilledAtMs) * this.#ratePerS) / 1000);
    this.#refilledAtMs = nowMs;
  }
}
