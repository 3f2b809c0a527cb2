import { startRedisCluster, RedisCluster } from '../support/redis-cluster';
import { startRedisSentinels, RedisSentinelSet } from '../support/redis-sentinel';
import { brokerContract } from './broker.contract';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';
import { topologyHarness } from './redis-harness';

/**
 * Every seam's contract (Broker, PresenceStore, InboxStore) on the two high-availability
 * modes, as on one server (redis.engine.e2e-spec.ts) and in memory. Failovers and slot moves
 * have their own suites (test/e2e/redis-cluster, redis-sentinel); here the topology is steady.
 */
describe('RedisEngine on a Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());
  const harness = topologyHarness(() => ({ mode: 'cluster', seeds: cluster.seeds.split(',') }), { minReplicas: 1 });

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});

describe('RedisEngine through Redis Sentinel (a primary, a replica, 3 sentinels)', () => {
  let set: RedisSentinelSet;
  beforeAll(async () => {
    set = await startRedisSentinels({ replicas: 1 });
  }, 60_000);
  afterAll(() => set?.stop());
  const harness = topologyHarness(
    () => ({
      mode: 'sentinel',
      sentinels: set.sentinels.split(',').map((entry) => ({ host: entry.split(':')[0], port: Number(entry.split(':')[1]) })),
      masterName: set.masterName,
      username: undefined,
      password: set.password,
      sentinelUsername: undefined,
      sentinelPassword: set.password,
      tls: false,
    }),
    { minReplicas: 1 },
  );

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});
