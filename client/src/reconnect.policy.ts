import { backoffDelayMs, type BackoffOptions } from './backoff.policy.ts';
import { checkedNumberOption, type NumberOptionRule } from './number-option.rule.ts';
import { closeAdvice, type CloseAdvice } from './protocol.ts';

export interface ReconnectOptions extends BackoffOptions {
  /** Upper bound of the random delay after 1001 / 1012 (a pod draining or going away). */
  soonMaxDelayMs: number;
  /** Reconnect attempts in a row, without a connection that stayed up `stableAfterMs`, before the client gives up. */
  maxAttempts: number;
  /**
   * How long a connection must stay up before the attempt counter starts again from 0. A server
   * that welcomes and then closes at once (1009, 4008, 1011, ...) is met with a growing delay
   * instead of a reconnect at once, every time.
   */
  stableAfterMs: number;
}

export const DEFAULT_RECONNECT_OPTIONS: ReconnectOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  soonMaxDelayMs: 2_000,
  maxAttempts: Infinity,
  stableAfterMs: 5_000,
};

/** What each reconnect option may be: finite, but for maxAttempts. */
const RULES: Record<keyof ReconnectOptions, NumberOptionRule> = {
  initialDelayMs: { least: 0 },
  maxDelayMs: { least: 0 },
  factor: { least: 1 },
  soonMaxDelayMs: { least: 0 },
  maxAttempts: { least: 0, infinite: true },
  stableAfterMs: { least: 0 },
};

/**
 * The reconnect options given, over the defaults. A field given as `undefined` keeps its
 * default (a spread let it through, and a NaN delay reconnected in a hot loop); one that is not
 * a number within bounds throws, naming it.
 */
export function reconnectOptionsOf(given: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const options = { ...DEFAULT_RECONNECT_OPTIONS };
  for (const key of Object.keys(RULES) as (keyof ReconnectOptions)[]) {
    const value = checkedNumberOption(`reconnect.${key}`, given[key], RULES[key]);
    if (value !== undefined) options[key] = value;
  }
  return options;
}

export type ReconnectDecision =
  | { action: 'stop'; advice: CloseAdvice }
  | { action: 'reconnect'; advice: CloseAdvice; delayMs: number; needsNewToken: boolean };

/**
 * What to do after the socket closed with `code`, following the close-code table of the
 * contract (section 5). `attempt` counts the reconnects since the last connection that stayed
 * up `stableAfterMs`, so a server that keeps refusing or dropping us is met with a growing delay
 * whatever the code.
 */
export function decideReconnect(
  code: number,
  reason: string,
  attempt: number,
  options: ReconnectOptions,
  random: () => number = Math.random,
): ReconnectDecision {
  const advice = closeAdvice(code, reason);
  if (advice === 'stop' || attempt >= options.maxAttempts) return { action: 'stop', advice };
  const backoff = backoffDelayMs(attempt, options, random);
  switch (advice) {
    case 'reconnect':
      // At once the first time; a close that repeats right after reconnecting backs off.
      return { action: 'reconnect', advice, delayMs: attempt === 0 ? 0 : backoff, needsNewToken: false };
    case 'reconnect_soon':
      return {
        action: 'reconnect',
        advice,
        delayMs: Math.max(Math.floor(random() * options.soonMaxDelayMs), attempt === 0 ? 0 : backoff),
        needsNewToken: false,
      };
    case 'reconnect_backoff':
      return { action: 'reconnect', advice, delayMs: backoff, needsNewToken: false };
    case 'new_token':
      return { action: 'reconnect', advice, delayMs: backoff, needsNewToken: true };
  }
}
