import { JoinDecisionCache } from './join-decision.cache';

describe('JoinDecisionCache', () => {
  it('allows until the decision expires, then forgets it', () => {
    const cache = new JoinDecisionCache(10);
    cache.remember('ann\ndoc:1', 1_000);
    expect(cache.allows('ann\ndoc:1', 999)).toBe(true);
    expect(cache.allows('ann\ndoc:1', 1_000)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const cache = new JoinDecisionCache(2);
    cache.remember('a', 10);
    cache.remember('b', 10);
    cache.remember('c', 10);
    expect([cache.allows('a', 0), cache.allows('b', 0), cache.allows('c', 0)]).toEqual([false, true, true]);
    expect(cache.size).toBe(2);
  });

  it('remembers nothing with a size of 0', () => {
    const cache = new JoinDecisionCache(0);
    cache.remember('a', 10);
    expect(cache.allows('a', 0)).toBe(false);
  });
});
