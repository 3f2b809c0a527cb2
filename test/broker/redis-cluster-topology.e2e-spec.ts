import { startRedisCluster, RedisCluster } from '../support/redis-cluster';
import { brokerContract } from './broker.contract';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';
import { HA_TOPOLOGY_OPTIONS, topologyHarness } from './redis-harness';

/**
 * Every seam's contract (Broker, PresenceStore, InboxStore) on a Redis Cluster, as on one server
 * (redis.engine.e2e-spec.ts), through Sentinel (redis-sentinel-topology.e2e-spec.ts) and in
 * memory. Failovers and slot moves have their own suites (test/e2e/redis-cluster); here the
 * topology is steady.
 */
describe('RedisEngine on a Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());
  const harness = topologyHarness(() => ({ mode: 'cluster', seeds: cluster.seeds.split(',') }), HA_TOPOLOGY_OPTIONS);

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});
