/** Exponential backoff with full jitter: delay = random(0, min(maxDelayMs, initialDelayMs * factor^attempt)). */
export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

/**
 * The ceiling of the delay before retry number `attempt` (0 for the first retry).
 * Full jitter spreads a crowd of clients that lost the same server over the whole window
 * instead of letting them come back in waves.
 */
export function backoffCeilingMs(attempt: number, options: BackoffOptions): number {
  const exponential = options.initialDelayMs * Math.pow(options.factor, Math.max(0, attempt));
  return Math.min(options.maxDelayMs, Number.isFinite(exponential) ? exponential : options.maxDelayMs);
}

/** `random` returns a number in [0, 1), like Math.random. */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingMs(attempt, options));
}
