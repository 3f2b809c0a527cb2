import { DEFAULT_RECONNECT_OPTIONS, decideReconnect } from './reconnect.policy.ts';

const options = { ...DEFAULT_RECONNECT_OPTIONS, initialDelayMs: 1_000, soonMaxDelayMs: 2_000 };
const half = () => 0.5;

describe('reconnect decisions from the close-code table', () => {
  it.each([
    [1000, 'normal', 'stop'],
    [1008, 'origin_not_allowed', 'stop'],
  ])('does not reconnect after %i %s', (code, reason) => {
    expect(decideReconnect(code, reason, 0, options, half)).toEqual({ action: 'stop', advice: 'stop' });
  });

  it.each([
    [1001, 'going_away'],
    [1012, 'service_restart'],
  ])('reconnects after a short random delay after %i (%s)', (code, reason) => {
    expect(decideReconnect(code, reason, 0, options, half)).toMatchObject({ action: 'reconnect', delayMs: 1_000 });
    expect(decideReconnect(code, reason, 0, options, () => 0.999_999)).toMatchObject({ delayMs: 1_999 });
  });

  it.each([
    [1001, 'going_away'],
    [1012, 'service_restart'],
  ])('backs off when %i (%s) repeats right after reconnecting, past the short random delay', (code, reason) => {
    // Backoff ceiling 1000 * 2^3 = 8000; half of it beats half of soonMaxDelayMs.
    expect(decideReconnect(code, reason, 3, options, half)).toMatchObject({ action: 'reconnect', delayMs: 4_000 });
  });

  it.each([
    [1011, 'internal'],
    [1013, 'try_again_later'],
    [4029, 'rate_limited'],
    [1006, ''],
    [4000, 'client_timeout'],
  ])('backs off after %i %s', (code, reason) => {
    expect(decideReconnect(code, reason, 0, options, half)).toMatchObject({ action: 'reconnect', delayMs: 500 });
    expect(decideReconnect(code, reason, 3, options, half)).toMatchObject({ action: 'reconnect', delayMs: 4_000 });
  });

  it.each([
    [1009, 'message_too_big'],
    [4008, 'slow_consumer'],
  ])('reconnects at once after %i, and backs off if it happens again', (code, reason) => {
    expect(decideReconnect(code, reason, 0, options, half)).toMatchObject({ action: 'reconnect', delayMs: 0 });
    expect(decideReconnect(code, reason, 2, options, half)).toMatchObject({ action: 'reconnect', delayMs: 2_000 });
  });

  it.each([
    [1008, 'unauthorized'],
    [4001, 'token_expired'],
  ])('asks for a new token after %i %s', (code, reason) => {
    expect(decideReconnect(code, reason, 0, options, half)).toMatchObject({ action: 'reconnect', needsNewToken: true });
  });

  it('gives up after maxAttempts reconnects in a row', () => {
    const limited = { ...options, maxAttempts: 3 };
    expect(decideReconnect(1006, '', 2, limited, half).action).toBe('reconnect');
    expect(decideReconnect(1006, '', 3, limited, half)).toEqual({ action: 'stop', advice: 'reconnect_backoff' });
  });
});
