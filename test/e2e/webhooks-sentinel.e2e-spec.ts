import { randomUUID } from 'node:crypto';
import { eventually } from '../support/eventually';
import { RedisSentinelSet, startRedisSentinels } from '../support/redis-sentinel';
import { expectQueuedEventToSurvivePrimaryCrash, webhooksAcrossPods } from '../support/webhooks-across-pods';

/** Section 8's webhooks with REDIS_SENTINELS: cluster-wide as on one Redis, and through a failover. */
describe('webhooks across pods behind Redis Sentinel', () => {
  let sentinels: RedisSentinelSet;
  const prefix = `t${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    sentinels = await startRedisSentinels({ replicas: 1 });
  }, 60_000);
  const hooks = webhooksAcrossPods(() => ({
    REDIS_SENTINELS: sentinels.sentinels,
    REDIS_SENTINEL_MASTER: sentinels.masterName,
    REDIS_PREFIX: prefix,
    REDIS_COMMAND_TIMEOUT_MS: '1500',
    REDIS_REPLICA_WAIT_MS: '500',
  }));
  // Declared after the pods' hooks, so the pods close before their Redis goes.
  afterAll(() => sentinels?.stop(), 60_000);

  it('delivers an event queued before the primary is killed with -9, under the id it was queued with', () =>
    expectQueuedEventToSurvivePrimaryCrash(hooks, 'fay', async (eventId) => {
      // Replicated before the crash (webhook bookkeeping is not WAITed for, see docs/hooks.md).
      const primary = await sentinels.primary();
      const replica = sentinels.servers.find((server) => server !== primary)!;
      await eventually(async () => expect(await sentinels.cli(replica, ['LRANGE', `${prefix}{hooks}:queue`, '0', '-1'])).toContain(eventId));
      await primary.kill();
      await sentinels.waitHealthy(0, 30_000);
    }), 90_000);
});
