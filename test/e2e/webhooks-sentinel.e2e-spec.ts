import { randomUUID } from 'node:crypto';
import { eventually } from '../support/eventually';
import { RedisSentinelSet, startRedisSentinels } from '../support/redis-sentinel';
import { about, subjectOf, user, webhooksAcrossPods } from '../support/webhooks-across-pods';
import { connectClient } from '../support/ws-client';

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

  it('delivers an event queued before the primary is killed with -9, under the id it was queued with', async () => {
    const { receiver, pods } = hooks;
    receiver.answer = () => ({ status: 503 });
    const client = await connectClient(pods[0].wsUrl, user('fay'));
    const refused = await eventually(() => {
      const event = receiver.events().find((candidate) => subjectOf(candidate) === 'fay' && candidate.type === 'user.online');
      expect(event).toBeDefined();
      return event!;
    }, 10_000);
    // Replicated before the crash (webhook bookkeeping is not WAITed for, see docs/hooks.md).
    const primary = await sentinels.primary();
    const replica = sentinels.servers.find((server) => server !== primary)!;
    await eventually(async () => expect(await sentinels.cli(replica, ['LRANGE', `${prefix}{hooks}:queue`, '0', '-1'])).toContain(refused.id));

    await primary.kill();
    await sentinels.waitHealthy(0, 30_000);
    receiver.answer = () => ({ status: 200 });
    await eventually(() => expect(receiver.accepted.map((event) => event.id)).toContain(refused.id), 30_000);
    await client.close();
    // A failover longer than two heartbeats may have had a pod taken for dead meanwhile (an
    // offline and online again); what counts is that the last word is offline.
    await eventually(() => expect(about(receiver, 'fay').at(-1)).toBe('user.offline fay'), 30_000);
    expect(about(receiver, 'fay')[0]).toBe('user.online fay');
  }, 90_000);
});
