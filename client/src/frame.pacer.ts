/**
 * Spaces out the requests a client sends so that it stays inside the server's per-connection
 * rate limit (contract, section 2: a bucket refilled at RATE_LIMIT_PER_S, default 20 a second,
 * holding twice that). Without it, a client in 60 rooms rejoined them in one burst after every
 * reconnect and the server answered the 21 joins past its burst `rate_limited`.
 *
 * The client's own bucket is smaller than the server's default, so that the frames it does not
 * pace (the `pong` to each heartbeat) and the server's clock running ahead of ours still fit.
 * Against a server with a lower limit the retries of RoomJoiner take over.
 */
export const PACER_BURST = 30;
export const PACER_RATE_PER_S = 15;

export class FramePacer {
  readonly #queue: Array<() => boolean> = [];
  #tokens: number;
  #refilledAtMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly burst = PACER_BURST,
    private readonly ratePerS = PACER_RATE_PER_S,
  ) {
    this.#tokens = burst;
    this.#refilledAtMs = Date.now();
  }

  /**
   * Runs `send` now when the budget allows and nothing waits before it, else in turn, in the
   * order given. `send` returns false when it wrote nothing, which costs no budget.
   */
  schedule(send: () => boolean): void {
    this.#queue.push(send);
    this.#drain();
  }

  /** A new connection: the server's bucket is full again, and nothing of the old one is sent. */
  reset(): void {
    this.cancel();
    this.#tokens = this.burst;
    this.#refilledAtMs = Date.now();
  }

  /** The connection is gone: what waits is dropped (its requests fail with `disconnected`). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #drain(): void {
    if (this.#timer !== undefined) return; // already waiting for the next token
    this.#refill();
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      if (this.#queue.shift()!()) this.#tokens -= 1;
    }
    if (this.#queue.length === 0) return;
    const waitMs = Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, waitMs);
  }

  #refill(): void {
    const nowMs = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((nowMs - this.#refilledAtMs) * this.ratePerS) / 1000);
    this.#refilledAtMs = nowMs;
  }
}
