import { SentinelFailoverWatch, masterNameOf } from './sentinel-failover.watch';

describe('SentinelFailoverWatch', () => {
  it('reads the master an event is about, for events about a master and about a replica', () => {
    expect(masterNameOf('slave 127.0.0.1:6380 127.0.0.1 6380 @ herald 127.0.0.1 6379')).toBe('herald');
    expect(masterNameOf('master herald 127.0.0.1 6379')).toBe('herald');
    expect(masterNameOf('something else')).toBeUndefined();
  });

  it('is switching from a +selected-slave of its master until +failover-end, an abort, the pod following, or the longest switch', async () => {
    jest.useFakeTimers();
    try {
      const watch = new SentinelFailoverWatch('herald', 10_000);
      const subscriptions = new Map<string, (message: string) => void>();
      const client = {
        on: () => client,
        connect: async () => undefined,
        subscribe: async (channel: string, listener: (message: string) => void) => void subscriptions.set(channel, listener),
        pSubscribe: async (pattern: string, listener: (message: string) => void) => void subscriptions.set(pattern, listener),
        isOpen: false,
        destroy: () => undefined,
      };
      watch.watch([client as unknown as Parameters<SentinelFailoverWatch['watch']>[0][number]]);
      for (let i = 0; i < 10 && subscriptions.size < 3; i++) await Promise.resolve();
      const tell = (channel: string, message: string) => subscriptions.get(channel)!(message);
      tell('+selected-slave', 'slave 10.0.0.2:6379 10.0.0.2 6379 @ other 10.0.0.1 6379');
      expect(watch.switching).toBe(false);
      tell('+selected-slave', 'slave 10.0.0.2:6379 10.0.0.2 6379 @ herald 10.0.0.1 6379');
      expect([watch.switching, watch.generation]).toEqual([true, 1]);
      tell('+failover-end', 'master herald 10.0.0.2 6379');
      expect(watch.switching).toBe(false);
      tell('+selected-slave', 'slave 10.0.0.3:6379 10.0.0.3 6379 @ herald 10.0.0.2 6379');
      tell('-failover-abort-*', 'master herald 10.0.0.2 6379');
      expect([watch.switching, watch.generation]).toEqual([false, 2]);
      tell('+selected-slave', 'slave 10.0.0.3:6379 10.0.0.3 6379 @ herald 10.0.0.2 6379');
      watch.ended();
      expect(watch.switching).toBe(false);
      // No word of its end: over after the longest switch all the same.
      tell('+selected-slave', 'slave 10.0.0.3:6379 10.0.0.3 6379 @ herald 10.0.0.2 6379');
      expect(watch.switching).toBe(true);
      jest.advanceTimersByTime(10_000);
      expect([watch.switching, watch.generation]).toEqual([false, 4]);
      watch.close();
    } finally {
      jest.useRealTimers();
    }
  });
});
