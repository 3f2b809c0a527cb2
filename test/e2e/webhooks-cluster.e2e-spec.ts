import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import RedisClusterSlots from '@redis/client/dist/lib/cluster/cluster-slots';
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { HooksRedisConnection } from '../../src/hooks/webhooks/hooks-redis.connection';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { http } from '../support/http';
import { RedisProcess } from '../support/redis-process';
import { RedisCluster, startRedisCluster } from '../support/redis-cluster';
import { stallConnects } from '../support/stalled-connects';
import { about, expectQueuedEventToSurvivePrimaryCrash, explainedOnFailure, user, webhooksAcrossPods } from '../support/webhooks-across-pods';
import { connectClient } from '../support/ws-client';

/** Section 8's webhooks with REDIS_CLUSTER_NODES: cluster-wide as on one Redis, and through a failover. */
describe('webhooks across pods on a Redis Cluster', () => {
  let cluster: RedisCluster;
  const prefix = `t${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  const hooks = webhooksAcrossPods(() => ({ REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix }));
  // Declared after the pods' hooks, so the pods close before their Redis goes.
  afterAll(() => cluster?.stop(), 60_000);

  it("starts its cluster client from one seed though the discovery's first connects time out behind a busy event loop", async () => {
    // As the broker's (redis-cluster-topology.e2e-spec.ts): node-redis asks each seed once per
    // discovery, so a connect whose timer fired while the loop was busy failed the start at once.
    const commandTimeoutMs = 1000;
    const [seed] = cluster.seeds.split(',');
    const seedPort = Number(new URL(seed).port);
    // The discovery's first two connects to the seed (the pods' clients are connected already).
    const stalls = stallConnects(2, commandTimeoutMs * 1.5, (options) => options.port === seedPort);
    const connection = new HooksRedisConnection({ mode: 'cluster', seeds: [seed] }, commandTimeoutMs);
    try {
      try {
        await connection.connect();
      } finally {
        stalls.restore();
      }
      expect(stalls.stalled).toBe(2);
      await expect(connection.commands.zRem(`${prefix}{hooks}:probe`, 'nobody')).resolves.toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('ends its cluster client start closed between two tries as closed, trying no more', async () => {
    // Nothing listens on the seed's port: every discovery fails at once.
    const seed = `redis://127.0.0.1:${await freePort()}`;
    const connection = new HooksRedisConnection({ mode: 'cluster', seeds: [seed] }, 1000);
    const tries = jest.spyOn(RedisClusterSlots.prototype, 'connect');
    let closing: Promise<void> | undefined;
    // Closed as the first try's failure is reported, before the pause after it.
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      if ((message as { attempt?: number }).attempt === 1) closing ??= connection.close();
    });
    try {
      await expect(connection.connect()).rejects.toThrow(/closed while it started/);
      await closing;
      expect(closing).toBeDefined();
      expect(tries).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
      tries.mockRestore();
      await connection.close();
    }
  });

  it('keeps every hooks key in one hash slot, so each script runs on one primary', async () => {
    const client = await connectClient(hooks.pods[0].wsUrl, user('slotty'));
    await client.join('public:slots');
    await eventually(() => expect(about(hooks.receiver, 'slotty')).toEqual(['user.online slotty']));
    const primaries = await cluster.primaries();
    const keysOn = await Promise.all(
      primaries.map(async (node) => (await cluster.cli(node, ['KEYS', `${prefix}*hooks*`])).split('\n').filter((key) => key.length > 0)),
    );
    const holders = keysOn.filter((keys) => keys.length > 0);
    expect(holders).toHaveLength(1);
    const keys = holders[0];
    expect(keys).toEqual(expect.arrayContaining([`${prefix}{hooks}:pods`, `${prefix}{hooks}:totals`]));
    const slots = await Promise.all(keys.map((key) => cluster.cli(primaries[0], ['CLUSTER', 'KEYSLOT', key])));
    expect(new Set(slots.map((slot) => slot.trim())).size).toBe(1);
    await client.close();
    await eventually(() => expect(about(hooks.receiver, 'slotty')).toEqual(['user.online slotty', 'user.offline slotty']));
  });

  it('keeps sending webhooks while the primary of the hooks slot stays frozen past its failover', async () => {
    // Before the kill test, which leaves the hooks slot's shard without a replica.
    // SIGSTOP, as a paused VM: its sockets stay open and it answers nothing, not even MOVED, so
    // only deadlines notice. The hooks client used to keep sending to it until it woke up.
    const primary = await cluster.primaryOf(calculateSlot(`${prefix}{hooks}:queue`));
    await cluster.freeze(primary);
    try {
      await cluster.waitHealthy(30_000); // The replica took over; the old primary is still stopped.
      await eventually(async () => expect((await http('GET', `${hooks.pods[0].url}/readyz`)).status).toBe(200), 20_000, 200);
      // A pod may refuse with 1013 while its broker resyncs after the failover: a client retries.
      const client = await eventually(() => connectClient(hooks.pods[0].wsUrl, user('frosty')), 20_000, 200);
      await explainedOnFailure(hooks, eventually(() => expect(about(hooks.receiver, 'frosty')).toEqual(['user.online frosty']), 30_000));
      await client.close();
      await explainedOnFailure(hooks, eventually(() => expect(about(hooks.receiver, 'frosty')).toEqual(['user.online frosty', 'user.offline frosty']), 30_000));
    } finally {
      cluster.thaw(primary);
    }
    await cluster.waitHealthy(30_000);
  }, 120_000);

  it('delivers an event queued before the primary of the hooks slot is killed with -9, under the id it was queued with', () =>
    expectQueuedEventToSurvivePrimaryCrash(hooks, 'fritz', async () => {
      const primary = await cluster.primaryOf(calculateSlot(`${prefix}{hooks}:queue`));
      // Replicated before the crash (webhook bookkeeping is not WAITed for, see docs/hooks.md).
      await replicasCaughtUp(cluster, primary);
      await primary.kill();
      await cluster.waitHealthy(30_000);
    }), 90_000);
});

/** Waits until every replica of `primary` has acknowledged what it held when called. */
async function replicasCaughtUp(cluster: RedisCluster, primary: RedisProcess): Promise<void> {
  const offset = Number(/master_repl_offset:(\d+)/.exec(await cluster.cli(primary, ['INFO', 'replication']))![1]);
  await eventually(async () => {
    const info = await cluster.cli(primary, ['INFO', 'replication']);
    const acknowledged = [...info.matchAll(/slave\d+:.*offset=(\d+)/g)].map((match) => Number(match[1]));
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(Math.min(...acknowledged)).toBeGreaterThanOrEqual(offset);
  });
}
