import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { QueueOutcome } from '../../src/hooks/webhooks/activity.tracker';
import { HooksRedisStore } from '../../src/hooks/webhooks/hooks-redis.store';
import { MemoryWebhookQueue } from '../../src/hooks/webhooks/memory-webhook.queue';
import { RedisActivityTracker } from '../../src/hooks/webhooks/redis-activity.tracker';
import { RedisWebhookQueue } from '../../src/hooks/webhooks/redis-webhook.queue';
import { Lease, WebhookQueue } from '../../src/hooks/webhooks/webhook.queue';
import { UnstampedEvent, unreadEvent, userKey } from '../../src/hooks/webhooks/webhook-event';
import { eventually } from '../support/eventually';
import { RedisServer, startRedis } from '../support/redis-server';

describe('webhook queues', () => {
  let redis: RedisServer;
  let store: HooksRedisStore;
  beforeAll(async () => {
    redis = await startRedis();
  });
  // A store of its own per test: each test starts from an empty queue.
  beforeEach(async () => {
    store = new HooksRedisStore({ mode: 'standalone', url: redis.url }, `t${randomUUID().slice(0, 8)}:`, 2000);
    await store.connect();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await store?.close();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const check = { user: 'bob', notification: { id: 'n-1', seq: '0000000001-0000000000000003', type: 'invoice.due' } };

  /**
   * Both webhook queues stamp what they are given with their own clock: the dispatcher judges a
   * batch's wait and the retry window by the queue's clock (Redis TIME for the shared queue), so a
   * pod whose clock is off must not hold the queue up or have its events dropped unsent.
   */
  it.each([
    ['ahead', 30_000],
    ['behind', -10_000],
  ])('stamps an event queued by a pod whose clock is %s with the shared queue\'s clock (Redis)', async (_, skewMs) => {
    const queue: WebhookQueue = new RedisWebhookQueue(store, `pod-${skewMs}`, 100);
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    expect(await queue.enqueue([unreadEvent(check)])).toBe(0);
    const lease = await queue.lease(1000, 10);
    if (!lease.held) throw new Error('lease not held');
    const [queued] = lease.head;
    // Redis's clock and this process's real one are the same machine's.
    expect(Math.abs(queued.queuedAtMs - lease.nowMs)).toBeLessThan(1000);
    expect(Math.abs(queued.queuedAtMs - realNow())).toBeLessThan(1000);
    expect(queued.event).toEqual({ ...unreadEvent(check), timestamp: new Date(queued.queuedAtMs).toISOString() });
    await queue.remove([queued.id]);
    await queue.release();
  });

  it('stamps with the pod\'s clock in the queue of a pod running alone, whose lease reads the same clock', async () => {
    const queue = new MemoryWebhookQueue(100);
    jest.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 0, 1));
    await queue.enqueue([unreadEvent(check)]);
    const lease = await queue.lease(1000, 10);
    if (!lease.held) throw new Error('lease not held');
    expect(lease.head).toEqual([{ id: unreadEvent(check).id, queuedAtMs: lease.nowMs, event: { ...unreadEvent(check), timestamp: '2026-01-01T00:00:00.000Z' } }]);
  });

  /** `user.online <name>` or `user.offline <name>` under the id `<name>-<up|down>`. */
  const change = (name: string, up: boolean): UnstampedEvent => ({ id: `${name}-${up ? 'up' : 'down'}`, ...(up ? { type: 'user.online' } : { type: 'user.offline' }), user: name });
  const held = (lease: Lease): Extract<Lease, { held: true }> => {
    if (!lease.held) throw new Error('lease not held');
    return lease;
  };
  const headIds = async (queue: WebhookQueue, max = 100) => held(await queue.lease(1000, max)).head.map((queued) => queued.id);

  it('drops the oldest events when full, so the newest enter, counting the dropped (Redis)', async () => {
    const queue = new RedisWebhookQueue(store, 'pod-bound', 3);
    expect(await queue.enqueue([change('ann', true), change('bob', true), change('ann', false)])).toBe(0);
    expect(await queue.enqueue([change('bob', false)])).toBe(1);
    expect(await headIds(queue)).toEqual(['bob-up', 'ann-down', 'bob-down']);
    // A batch larger than the queue keeps its own newest.
    expect(await queue.enqueue(['c', 'd', 'e', 'f'].map((name) => change(name, true)))).toBe(4);
    const lease = held(await queue.lease(1000, 10));
    expect(lease.depth).toBe(3);
    expect(lease.head.map((queued) => queued.event)).toEqual(['d', 'e', 'f'].map((name) => expect.objectContaining(change(name, true))));
  });

  it('removes only what it delivered when the batch in flight was partly dropped meanwhile (Redis)', async () => {
    const queue = new RedisWebhookQueue(store, 'pod-in-flight', 4);
    await queue.enqueue(['a', 'b', 'c', 'd'].map((name) => change(name, true)));
    const inFlight = held(await queue.lease(1000, 3)).head.map((queued) => queued.id);
    expect(await queue.enqueue([change('a', false), change('b', false)])).toBe(2);

    await queue.remove(inFlight);
    expect(await headIds(queue)).toEqual(['d-up', 'a-down', 'b-down']);
    // The whole batch dropped meanwhile: nothing is removed.
    const gone = held(await queue.lease(1000, 2)).head.map((queued) => queued.id);
    await queue.enqueue([change('e', true), change('f', true), change('g', true)]);
    await queue.remove(gone);
    expect(await headIds(queue)).toEqual(['b-down', 'e-up', 'f-up', 'g-up']);
  });

  it('queues the newest activity events when full, so each user ends on the right one (Redis scripts)', async () => {
    const outcomes: QueueOutcome[] = [];
    const tracker = new RedisActivityTracker(store, { podId: 'pod-activity', queueMax: 2, podTtlMs: 60_000, refreshMs: 30_000 }, (outcome) => outcomes.push(outcome));
    await tracker.start();
    try {
      for (const name of ['ann', 'bob']) tracker.change(userKey(name), 1);
      for (const name of ['ann', 'bob']) tracker.change(userKey(name), -1);
      const queue = new RedisWebhookQueue(store, 'pod-activity', 2);
      const events = await eventually(async () => {
        const lease = held(await queue.lease(1000, 10));
        expect(lease.head.map((queued) => `${queued.event.type} ${'user' in queued.event ? queued.event.user : ''}`)).toEqual(['user.offline ann', 'user.offline bob']);
        return lease.head;
      });
      // Every event was queued under its own id; the two oldest (the onlines) made room.
      expect(new Set(events.map((queued) => queued.id)).size).toBe(2);
      expect(outcomes.reduce((sum, outcome) => sum + outcome.queued, 0)).toBe(4);
      expect(outcomes.reduce((sum, outcome) => sum + outcome.dropped, 0)).toBe(2);
    } finally {
      await tracker.close();
    }
  });
  /**
   * A failover that lost a pod's last updates without an error reaching it: the old primary took
   * them after its replica was promoted (a planned Sentinel switch). Staged by putting back what
   * the promoted replica would hold: the keys as they were before those updates.
   */
  it.each([
    ['heartbeat', 100, []],
    ['update', 60_000, ['user.online dee']],
  ])("raises the ups and downs of updates Redis lost without an error, at this pod's next %s (Redis scripts)", async (_, refreshMs, raisedByTheUpdate) => {
    const tracker = new RedisActivityTracker(store, { podId: 'pod-failed-over', podTtlMs: 60_000, refreshMs, queueMax: 100 }, () => undefined);
    await tracker.start();
    const inspector = createClient({ url: redis.url });
    await inspector.connect();
    const queue = new RedisWebhookQueue(store, 'pod-reader', 100);
    const events = async () => held(await queue.lease(1000, 100)).head.map((queued) => `${queued.event.type} ${'user' in queued.event ? queued.event.user : ''}`);
    const keys = store.activityKeys('pod-failed-over');
    try {
      tracker.change(userKey('ann'), 1);
      await eventually(async () => expect(await events()).toEqual(['user.online ann']));
      const replicated = { pod: await inspector.hGetAll(keys.pod), totals: await inspector.hGetAll(keys.totals), mark: await inspector.get(keys.mark), queue: await inspector.lRange(keys.queue, 0, -1) };
      tracker.change(userKey('ann'), -1);
      tracker.change(userKey('bo'), 1);
      tracker.change(userKey('cy'), 1);
      await eventually(async () => expect(await events()).toEqual(['user.online ann', 'user.offline ann', 'user.online bo', 'user.online cy']));
      tracker.change(userKey('cy'), -1);
      await eventually(async () => expect(await events()).toContain('user.offline cy'));

      // The failover: the promoted replica has what was replicated before those updates; cy came
      // and went within them (the old primary may have delivered cy's user.online), bo came.
      await inspector.multi().del([keys.pod, keys.totals, keys.queue]).hSet(keys.pod, replicated.pod).hSet(keys.totals, replicated.totals).set(keys.mark, replicated.mark!).rPush(keys.queue, replicated.queue).exec();
      expect(await events()).toEqual(['user.online ann']);
      if (raisedByTheUpdate.length > 0) tracker.change(userKey('dee'), 1);
      const expected = ['user.offline ann', 'user.offline cy', 'user.online ann', 'user.online bo', ...raisedByTheUpdate];
      await eventually(async () => expect((await events()).sort()).toEqual(expected.sort()));
      expect(await inspector.hGetAll(keys.totals)).toEqual({ 'u:bo': '1', ...(raisedByTheUpdate.length > 0 ? { 'u:dee': '1' } : {}) });
      // A later update follows the full sync's mark: it raises its own event only.
      tracker.change(userKey('eve'), 1);
      await eventually(async () => expect(await events()).toHaveLength(expected.length + 1));
      expect((await events()).at(-1)).toBe('user.online eve');
    } finally {
      await inspector.quit();
      await tracker.close();
    }
  });

  /**
   * A pause of Redis, as it looks afterwards: no activity script ran for longer than half the pod
   * TTL, and every pod's score lapsed meanwhile. Staged with an inspector (pausing Redis's clock
   * would pause the scripts too); test/e2e/webhooks.e2e-spec freezes a real one.
   */
  it('reaps no pod for a pause of Redis itself, and still reaps one that had died before it (Redis scripts)', async () => {
    const pods = { podTtlMs: 60_000, refreshMs: 30_000, queueMax: 100 };
    const live = new RedisActivityTracker(store, { podId: 'pod-live', ...pods }, () => undefined);
    const other = new RedisActivityTracker(store, { podId: 'pod-other', ...pods }, () => undefined);
    await Promise.all([live.start(), other.start()]);
    const inspector = createClient({ url: redis.url });
    await inspector.connect();
    const queue = new RedisWebhookQueue(store, 'pod-live', 100);
    const events = async () => held(await queue.lease(1000, 100)).head.map((queued) => `${queued.event.type} ${'user' in queued.event ? queued.event.user : ''}`);
    try {
      live.change(userKey('ann'), 1);
      other.change(userKey('bob'), 1);
      await eventually(async () => expect((await events()).sort()).toEqual(['user.online ann', 'user.online bob']));
      const keys = store.activityKeys('pod-live');
      const [seconds] = (await inspector.time()).map(Number);
      const nowMs = seconds * 1000;
      const silence = async (otherExpiredAtMs: number) => {
        await inspector.set(keys.clock, String(nowMs - 40_000));
        await inspector.zAdd(keys.pods, [
          { score: nowMs - 1, value: 'pod-live' },
          { score: otherExpiredAtMs, value: 'pod-other' },
        ]);
      };

      // Both lapsed during the pause: the first script after it reaps neither.
      await silence(nowMs - 1);
      live.change(userKey('cy'), 1);
      await eventually(async () => expect(await events()).toContain('user.online cy'));
      // Each has a whole TTL from the resume to register again, not only what was left of its own.
      expect(Number(await inspector.zScore(keys.pods, 'pod-other'))).toBeGreaterThanOrEqual(nowMs + pods.podTtlMs);
      expect((await events()).filter((event) => event.startsWith('user.offline'))).toEqual([]);

      // The other pod had lapsed before the silence began: it died, and is reaped as it always was.
      await silence(nowMs - 40_001);
      live.change(userKey('dee'), 1);
      await eventually(async () => expect(await events()).toContain('user.offline bob'));
      expect(await inspector.zScore(keys.pods, 'pod-other')).toBeNull();
      expect((await events()).filter((event) => event.startsWith('user.offline'))).toEqual(['user.offline bob']);
    } finally {
      await inspector.quit();
      await Promise.all([live.close(), other.close()]);
    }
  });
});
