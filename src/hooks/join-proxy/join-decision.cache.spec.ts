import { JoinDecisionCache } from './join-decision.cache';

describe('JoinDecisionCache', () => {
  it('allows until the decision expires, then forgets it', () => {
    const cache = new JoinDecisionCache(10);
    cache.remember('ann\ndoc:1', 1_000, 0);
    expect(cache.allows('ann\ndoc:1', 999)).toBe(true);
    expect(cache.allows('ann\ndoc:1', 1_000)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const cache = new JoinDecisionCache(2);
    cache.remember('a', 10, 0);
    cache.remember('b', 10, 0);
    cache.remember('c', 10, 0);
    expect([cache.allows('a', 0), cache.allows('b', 0), cache.allows('c', 0)]).toEqual([false, true, true]);
    expect(cache.size).toBe(2);
  });

  it('remembers nothing with a size of 0', () => {
    const cache = new JoinDecisionCache(0);
    cache.remember('a', 10, 0);
    expect(cache.allows('a', 0)).toBe(false);
  });

  it('drops expired decisions as it is used, not only when their key comes back', () => {
    const cache = new JoinDecisionCache(1000);
    for (let i = 0; i < 100; i++) cache.remember(`old-${i}`, 10, 0);
    cache.remember('new', 100, 20);
    expect(cache.size).toBe(1);
    expect(cache.allows('new', 20)).toBe(true);
  });

  it('drops expired decisions behind a longer-lived one within twice its size in uses', () => {
    const cache = new JoinDecisionCache(1000);
    cache.remember('day-long', 86_400_000, 0);
    for (let i = 0; i < 500; i++) cache.remember(`minute-${i}`, 60_000, 0);
    // Each later use looks at a few entries, never at them all.
    const uses = 2 * cache.size;
    for (let use = 0; use < uses; use++) cache.allows(`someone-${use}`, 60_000);
    expect(cache.size).toBe(1);
    expect(cache.allows('day-long', 60_000)).toBe(true);
  });

  it('keeps what has not expired while it sweeps', () => {
    const cache = new JoinDecisionCache(100);
    for (let i = 0; i < 100; i++) cache.remember(`key-${i}`, i % 2 === 0 ? 50 : 1_000, 0);
    for (let use = 0; use < 400; use++) cache.allows('nobody', 100);
    expect(cache.size).toBe(50);
    expect(Array.from({ length: 100 }, (_, i) => cache.allows(`key-${i}`, 100)).filter(Boolean)).toHaveLength(50);
  });
});
