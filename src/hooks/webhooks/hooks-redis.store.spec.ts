import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { RedisTopology } from '../../config/herald.config';
import { HooksRedisStore } from './hooks-redis.store';

const cluster: RedisTopology = { mode: 'cluster', seeds: ['redis://127.0.0.1:7000'] };

describe('HooksRedisStore keys', () => {
  it.each(['herald:', 'tenant-a:', 'x{y}:', 'a{'])('puts every hooks key of prefix %j in one Cluster slot', (prefix) => {
    const store = new HooksRedisStore(cluster, prefix, 1000);
    const keys = [store.queueKey, store.leaseKey, store.unreadKey, ...Object.values(store.activityKeys('pod-1')), `${store.activityKeys('pod-2').podPrefix}pod-2`];
    expect(new Set(keys.map((key) => calculateSlot(key))).size).toBe(1);
  });

  it('refuses a prefix whose empty {} would scatter the keys across slots, naming REDIS_PREFIX', () => {
    expect(() => new HooksRedisStore(cluster, 'a{}:', 1000)).toThrow(/REDIS_PREFIX puts the webhook keys in different Redis Cluster hash slots/);
  });
});
