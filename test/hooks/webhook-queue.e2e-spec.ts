import { HooksRedisStore } from '../../src/hooks/webhooks/hooks-redis.store';
import { MemoryWebhookQueue } from '../../src/hooks/webhooks/memory-webhook.queue';
import { RedisWebhookQueue } from '../../src/hooks/webhooks/redis-webhook.queue';
import { WebhookQueue } from '../../src/hooks/webhooks/webhook.queue';
import { unreadEvent } from '../../src/hooks/webhooks/webhook-event';
import { RedisServer, startRedis } from '../support/redis-server';

/**
 * Both webhook queues stamp what they are given with their own clock: the dispatcher judges a
 * batch's wait and the retry window by the queue's clock (Redis TIME for the shared queue), so a
 * pod whose clock is off must not hold the queue up or have its events dropped unsent.
 */
describe('webhook queues', () => {
  let redis: RedisServer;
  let store: HooksRedisStore;
  beforeAll(async () => {
    redis = await startRedis();
    store = new HooksRedisStore({ mode: 'standalone', url: redis.url }, `t${process.pid}:`, 2000);
    await store.connect();
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });
  afterEach(() => jest.restoreAllMocks());

  const check = { user: 'bob', notification: { id: 'n-1', seq: '0000000001-0000000000000003', type: 'invoice.due' } };

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

  it('drops what would pass the queue\'s bound, counting it', async () => {
    const queue = new RedisWebhookQueue(store, 'pod-bound', 2);
    const events = ['a', 'b', 'c'].map((user) => unreadEvent({ ...check, user }));
    expect(await queue.enqueue(events)).toBe(1);
    const lease = await queue.lease(1000, 10);
    if (!lease.held) throw new Error('lease not held');
    expect(lease.head.map((queued) => queued.event)).toEqual(events.slice(0, 2).map((event) => expect.objectContaining(event)));
    await queue.remove(lease.head.map((queued) => queued.id));
    await queue.release();
  });
});
