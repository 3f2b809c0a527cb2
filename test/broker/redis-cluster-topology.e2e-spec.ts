import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import RedisClusterSlots from '@redis/client/dist/lib/cluster/cluster-slots';
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { ClusterRedisConnection } from '../../src/broker/redis/cluster.connection';
import { ClosedWhileStartingError } from '../../src/broker/redis/redis.connection';
import { HooksRedisConnection } from '../../src/hooks/webhooks/hooks-redis.connection';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { startRedisCluster, RedisCluster } from '../support/redis-cluster';
import { stallConnects } from '../support/stalled-connects';
import { closeDuringStart, closeDuringStartPause } from './closed-while-starting';
import { brokerContract } from './broker.contract';
import { inboxStoreContract } from './inbox-store.contract';
import { presenceStoreContract } from './presence-store.contract';
import { HA_TOPOLOGY_OPTIONS, topologyHarness } from './redis-harness';
import { publishPastAThrowingListener } from './throwing-listener';

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

    it("starts from one seed though its discovery's first connects time out behind a busy event loop, trying again within the start-up budget", async () => {
      // node-redis asks each seed once, its connect bounded by the command timeout; a pod starting
      // beside others holds the event loop past it while the connect is under way, so the timer
      // fires before the finished connect is seen. With one seed, that failed the start at once.
      const commandTimeoutMs = 1000;
      const [seed] = cluster.seeds.split(',');
      // The discovery's first two connects to the seed; past the connect timeout, and twice of it
      // still inside the start-up budget (the attempts times the command timeout and the longest
      // reconnect pause).
      const stalls = stallConnects(2, commandTimeoutMs * 1.5);
      let engine;
      try {
        engine = await harness.pod({ commandTimeoutMs, topology: { mode: 'cluster', seeds: [seed] } });
      } finally {
        stalls.restore();
      }
      expect(stalls.stalled).toBe(2);
      const published = await engine.broker.publish('started', 'message', { text: 'after a stalled discovery' });
      expect(published).toMatchObject({ seq: expect.any(String) });
    });

    it('ends a start closed while it pauses between tries of its discovery at once, as closed while it started', async () => {
      // Nothing listens on the seed's port; a pause of about a minute would outlast the test.
      const seed = `redis://127.0.0.1:${await freePort()}`;
      const connection = new ClusterRedisConnection({ seeds: [seed], minReplicas: 0, reconnectMinDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
      const started = await closeDuringStartPause(connection, 'Redis Cluster discovery failed at start; trying again');
      expect(started).toMatchObject({ status: 'rejected', reason: expect.any(ClosedWhileStartingError) });
    });

    it('fails a start closed during its resync, and leaves no health timer running', async () => {
      const { started, healthTimer } = await closeDuringStart(new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0 }));
      expect(started).toMatchObject({ status: 'rejected', reason: expect.any(ClosedWhileStartingError) });
      expect(healthTimer).toBeUndefined();
    });

    afterAll(() => harness.closeAll());
  });

  describe('flushing channels', () => {
    /** The sharded subscriber of each primary, counting its PINGs. */
    function countSubscriberPings(connection: ClusterRedisConnection): () => number {
      const masters = (connection as unknown as { cluster: { masters: Array<{ pubSub?: { client?: { ping(): Promise<string> } } }> } }).cluster.masters;
      const spies = masters.flatMap((master) => (master.pubSub?.client ? [jest.spyOn(master.pubSub.client, 'ping')] : []));
      return () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    }

    it("shares one PING per subscriber among the flushes asked in one turn, and PINGs again for a later turn's", async () => {
      const connection = new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0, healthCheckMs: 600_000 });
      try {
        await connection.connect();
        // Rooms in many slots, so every primary's subscriber holds some.
        const channels = Array.from({ length: 30 }, (_, index) => `{flush-${index}}:channel`);
        for (const channel of channels) await connection.subscribe(channel);
        const pings = countSubscriberPings(connection);
        const subscribers = (connection.health.shards ?? []).length;
        await Promise.all(channels.map((channel) => connection.flushChannel(channel)));
        expect(pings()).toBe(subscribers);
        // Each later turn's flush is one of its own: a PING written before a read was answered covers nothing of it.
        for (const channel of channels.slice(0, 3)) await connection.flushChannel(channel);
        expect(pings()).toBe(subscribers + 3);
      } finally {
        await connection.close();
      }
    });
  });

  describe('closing while a primary is silent', () => {
    const KEY = '{silent-at-close}:key';
    const COMMAND_TIMEOUT_MS = 500;
    /**
     * How long the call before the freeze is tried for: it answers within COMMAND_TIMEOUT_MS only
     * when the machine allows, and on a loaded one (six nodes and other suites on two cores) a
     * Cluster call has missed a 1 s deadline (redis-harness.ts). Only the close is under test here.
     */
    const BEFORE_FREEZE_MS = 5000;

    /**
     * Closes `client` while the primary of KEY is frozen with a call (`callKey`) unanswered there:
     * a graceful close waits for that reply, so only cutting the connections ends it. Then no
     * connection the client opened to that primary may stay open.
     */
    async function closeWhileSilent(client: { connect(): Promise<void>; close(): Promise<void> }, callKey: () => Promise<unknown>): Promise<void> {
      const opened: Socket[] = [];
      const onSocket = (event: unknown) => void opened.push((event as { socket: Socket }).socket);
      subscribe('net.client.socket', onSocket);
      const silent = await cluster.primaryOf(calculateSlot(KEY));
      try {
        // Tried up to the start-up attempts within its budget (12.5 s at this deadline), as a pod's start.
        await client.connect();
        // Connected to the primary first: the call then waits on that connection's reply.
        await eventually(callKey, BEFORE_FREEZE_MS);
        await cluster.freeze(silent);
        // Past its deadline, the call is still waiting for the primary's reply on that connection.
        await expect(callKey()).rejects.toThrow(`within ${COMMAND_TIMEOUT_MS} ms`);
        await client.close();
        await eventually(() => expect(opened.filter((socket) => !socket.destroyed && socket.remotePort === silent.port).length).toBe(0));
      } finally {
        unsubscribe('net.client.socket', onSocket);
        cluster.thaw(silent);
        await cluster.waitHealthy();
      }
    }

    it("cuts the broker's connections that did not close within the command timeout", async () => {
      const connection = new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0, commandTimeoutMs: COMMAND_TIMEOUT_MS, healthCheckMs: 600_000 });
      await closeWhileSilent(connection, () => connection.attempt('publish', (redis) => redis.publish(KEY, 'a message')));
    });

    it("cuts the webhook drivers' connections that did not close within the command timeout", async () => {
      const connection = new HooksRedisConnection({ mode: 'cluster', seeds: cluster.seeds.split(',') }, COMMAND_TIMEOUT_MS);
      await closeWhileSilent(connection, () => connection.commands.zRem(KEY, 'a member'));
    });
  });

  it("leaves no subscription behind for a subscribe that timed out on a silent primary: its SSUBSCRIBE runs once the primary wakes", async () => {
    // Two channels of one slot: the first makes the primary's sharded subscriber, the second is
    // subscribed while that primary is frozen (as before the health check finds it silent).
    const [held, timedOut] = ['{silent-subscribe}:held', '{silent-subscribe}:timed-out'];
    const connection = new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0, commandTimeoutMs: 500, healthCheckMs: 600_000 });
    const primary = await cluster.primaryOf(calculateSlot(held));
    try {
      await connection.connect();
      await connection.subscribe(held);
      await cluster.freeze(primary);
      await expect(connection.subscribe(timedOut)).rejects.toThrow('within 500 ms');
      cluster.thaw(primary);
      // The subscriber's PING is answered after what was written on it before.
      await eventually(() => connection.flushChannel(held));
      expect((await cluster.cli(primary, ['PUBSUB', 'SHARDCHANNELS'])).split('\n').filter(Boolean).sort()).toEqual([held]);
    } finally {
      cluster.thaw(primary);
      await connection.close();
      await cluster.waitHealthy();
    }
  });

  it('loses only the message its listener throws on: the sharded subscriber goes on delivering the next ones', async () => {
    const connection = new ClusterRedisConnection({ seeds: cluster.seeds.split(','), minReplicas: 0, healthCheckMs: 600_000 });
    expect(await publishPastAThrowingListener(connection, '{listener-throws}:channel')).toEqual({ received: ['before', 'after'], available: true });
  });

  describe('Broker', () => brokerContract(harness));
  describe('PresenceStore', () => presenceStoreContract(harness));
  describe('InboxStore', () => inboxStoreContract(harness));
});
