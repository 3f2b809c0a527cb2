/**
 * Per-connection rate limit (section 2): refills at `ratePerS`, holds `2 * ratePerS`.
 * Time is passed in so a whole sweep of sockets reads the clock once.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAtMs: number;
  /** Frames dropped since the last one-second pause; past 2 x rate the connection is closed. */
  private droppedInARow = 0;
  private lastDropMs = 0;

  constructor(
    private readonly ratePerS: number,
    nowMs: number,
  ) {
    this.tokens = ratePerS * 2;
    this.refilledAtMs = nowMs;
  }

  /** 'ok' to process, 'drop' to answer rate_limited, 'close' when the client keeps going. */
  take(nowMs: number): 'ok' | 'drop' | 'close' {
    const capacity = this.ratePerS * 2;
    this.tokens = Math.min(capacity, this.tokens + ((nowMs - this.refilledAtMs) * this.ratePerS) / 1000);
    this.refilledAtMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    if (nowMs - this.lastDropMs >= 1000) this.droppedInARow = 0;
    this.lastDropMs = nowMs;
    this.droppedInARow += 1;
    return this.droppedInARow > capacity ? 'close' : 'drop';
  }
}
