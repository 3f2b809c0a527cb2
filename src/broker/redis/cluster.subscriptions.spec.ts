import { Logger } from '@nestjs/common';
import type { ClusterDiscovery } from './cluster.discovery';
import { ClusterSubscriptions } from './cluster.subscriptions';

/** A cluster client that records what it is asked to (un)subscribe, answering each call when told. */
function fakeCluster() {
  const calls: string[] = [];
  const waiting: Array<() => void> = [];
  const call = (what: string) => {
    calls.push(what);
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const cluster = {
    sSubscribe: (channel: string) => call(`SSUBSCRIBE ${channel}`),
    sUnsubscribe: (channel: string) => call(`SUNSUBSCRIBE ${channel}`),
  };
  const discovery = { cluster, ownerOf: () => '127.0.0.1:7000' } as unknown as ClusterDiscovery;
  /** Answers the calls made so far, and lets what waited on them run. */
  const answer = async () => {
    for (const resolve of waiting.splice(0)) resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { calls, discovery, answer };
}

describe('ClusterSubscriptions', () => {
  it('does not subscribe again, nor list again, a channel forgotten while the resubscribe of every channel was under way', async () => {
    const { calls, discovery, answer } = fakeCluster();
    const subscriptions = new ClusterSubscriptions(discovery, () => undefined, 60_000, new Logger('test'));
    for (const channel of ['a', 'b', 'c']) {
      const subscribed = subscriptions.subscribe(channel, '127.0.0.1:7000');
      await answer();
      await subscribed;
    }
    calls.length = 0;
    const resubscribed = subscriptions.resubscribeAll();
    // a's SUNSUBSCRIBE is under way: b is forgotten before its turn, and a before its SSUBSCRIBE
    // (as the rooms' last members leave during a resync, ClusterRedisConnection.unsubscribe).
    expect(calls).toEqual(['SUNSUBSCRIBE a']);
    expect(subscriptions.forget('b')).toBe(true);
    expect(subscriptions.forget('a')).toBe(true);
    while (calls.length < 20) {
      const before = calls.length;
      await answer();
      if (calls.length === before) break;
    }
    await resubscribed;
    expect(calls).toEqual(['SUNSUBSCRIBE a', 'SUNSUBSCRIBE c', 'SSUBSCRIBE c']);
    expect(subscriptions.count).toBe(1);
    expect(subscriptions.subscribedAt('b')).toBeUndefined();
  });
});
