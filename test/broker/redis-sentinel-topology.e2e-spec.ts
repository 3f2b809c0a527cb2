import { startRedisSentinels, RedisSentinelSet } from '../support/redis-sentinel';
import { brokerContract } from './broker.contract';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';
import { HA_TOPOLOGY_OPTIONS, topologyHarness } from './redis-harness';

/**
 * Every seam's contract (Broker, PresenceStore, InboxStore) through Redis Sentinel, as on one
 * server (redis.engine.e2e-spec.ts), on a Cluster (redis-cluster-topology.e2e-spec.ts) and in
 * memory. Failovers have their own suite (test/e2e/redis-sentinel); here the topology is steady.
 */
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
    HA_TOPOLOGY_OPTIONS,
  );

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});
