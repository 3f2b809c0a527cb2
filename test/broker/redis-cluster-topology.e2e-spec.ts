import RedisClusterSlots from '@redis/client/dist/lib/cluster/cluster-slots';
import { ClusterRedisConnection } from '../../src/broker/redis/cluster.connection';
import { ClosedWhileStartingError } from '../../src/broker/redis/redis.connection';
import { startRedisCluster, RedisCluster } from '../support/redis-cluster';
import { closeDuringStart } from './closed-while-starting';
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

  describe('start-up', () => {
    it('waits past REDIS_COMMAND_TIMEOUT_MS for a primary slow to answer its first connect, within the start-up budget', async () => {
      // Each primary's first connect (a handshake on a busy machine) answers three command
      // timeouts late; node-redis hands every call made meanwhile the same pending connect.
      // Not much shorter: after the slow connect, SCRIPT LOAD must still be answered within it
      // on a loaded machine (six nodes and the test sharing two cores).
      const commandTimeoutMs = 1000;
      const slots = RedisClusterSlots.prototype as unknown as { nodeClient(node: object): Promise<unknown> };
      const nodeClient = slots.nodeClient;
      const slowFirstConnects = new WeakMap<object, Promise<unknown>>();
      const slow = jest.spyOn(slots, 'nodeClient').mockImplementation(function (this: unknown, node: object) {
        let connect = slowFirstConnects.get(node);
        if (connect === undefined) {
          connect = nodeClient.call(this, node).then((client) => new Promise((resolve) => setTimeout(() => resolve(client), 3 * commandTimeoutMs)));
          slowFirstConnects.set(node, connect);
        }
        return connect;
      });
      let engine;
      let slowConnects: number;
      try {
        engine = await harness.pod({ commandTimeoutMs });
      } finally {
        slowConnects = slow.mock.calls.length;
        slow.mockRestore();
      }
      expect(slowConnects).toBeGreaterThan(0);
      const published = await engine.broker.publish('started', 'message', { text: 'after a slow start' });
      expect(published).toMatchObject({ seq: expect.any(String) });
    });

    it('fails a start closed during its resync, and leaves no health timer running', async () => {
      const { started, healthTimer } = await closeDuringStart(new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0 }));
      expect(started).toMatchObject({ status: 'rejected', reason: expect.any(ClosedWhileStartingError) });
      expect(healthTimer).toBeUndefined();
    });

    afterAll(() => harness.closeAll());
  });

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});
