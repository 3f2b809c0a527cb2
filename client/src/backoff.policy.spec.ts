import { backoffCeilingMs, backoffDelayMs } from './backoff.policy.ts';

const options = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 };

describe('backoff with full jitter', () => {
  it('doubles the ceiling with every attempt until the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffCeilingMs(attempt, options))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
  });

  it('never exceeds the cap, even after thousands of attempts', () => {
    expect(backoffCeilingMs(5_000, options)).toBe(30_000);
    expect(backoffDelayMs(5_000, options, () => 0.999_999)).toBeLessThan(30_000);
  });

  it('spreads delays over the whole window from zero to the ceiling', () => {
    for (const attempt of [0, 3, 10]) {
      const ceiling = backoffCeilingMs(attempt, options);
      expect(backoffDelayMs(attempt, options, () => 0)).toBe(0);
      expect(backoffDelayMs(attempt, options, () => 0.5)).toBe(ceiling / 2);
      expect(backoffDelayMs(attempt, options, () => 0.999_999)).toBe(ceiling - 1);
    }
  });

  it('stays within bounds with real randomness', () => {
    for (let i = 0; i < 1_000; i++) {
      const delay = backoffDelayMs(4, options);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(8_000);
    }
  });
});
