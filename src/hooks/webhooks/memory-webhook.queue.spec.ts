import { MemoryWebhookQueue } from './memory-webhook.queue';
import { Lease } from './webhook.queue';
import { QueuedEvent, activityEvent, userKey } from './webhook-event';

/** `user.online <name>` or `user.offline <name>`, queued now under the id `<name>-<up|down>`. */
function change(name: string, up: boolean): QueuedEvent {
  const id = `${name}-${up ? 'up' : 'down'}`;
  return { id, queuedAtMs: Date.now(), event: activityEvent(userKey(name), up, id, Date.now()) };
}

async function headIds(queue: MemoryWebhookQueue, max = 1_000_000): Promise<string[]> {
  return held(await queue.lease(1000, max)).head.map((queued) => queued.id);
}

function held(lease: Lease): Extract<Lease, { held: true }> {
  if (!lease.held) throw new Error('the memory queue is always leased to its pod');
  return lease;
}

describe('MemoryWebhookQueue when full', () => {
  it('drops the oldest event to make room for a new one, counts it, and keeps the order of the rest', async () => {
    const queue = new MemoryWebhookQueue(3);
    expect(queue.enqueueNow([change('ann', true), change('bob', true), change('ann', false)])).toBe(0);
    expect(queue.enqueueNow([change('bob', false)])).toBe(1);
    expect(await headIds(queue)).toEqual(['bob-up', 'ann-down', 'bob-down']);
    expect(held(await queue.lease(1000, 10)).depth).toBe(3);
  });

  it('keeps the newest of a batch larger than the whole queue, counting the others as dropped', async () => {
    const queue = new MemoryWebhookQueue(2);
    queue.enqueueNow([change('old', true)]);
    const dropped = await queue.enqueue(['a', 'b', 'c'].map((name) => ({ id: `${name}-up`, type: 'user.online' as const, user: name })));
    expect(dropped).toBe(2);
    expect(await headIds(queue)).toEqual(['b-up', 'c-up']);
  });

  it('removes only what it delivered when the batch in flight was partly dropped meanwhile', async () => {
    const queue = new MemoryWebhookQueue(4);
    queue.enqueueNow(['a', 'b', 'c', 'd'].map((name) => change(name, true)));
    const inFlight = held(await queue.lease(1000, 3)).head;
    // While the receiver holds the request, two newer events push out a and b.
    expect(queue.enqueueNow([change('a', false), change('b', false)])).toBe(2);
    expect(inFlight.map((queued) => queued.id)).toEqual(['a-up', 'b-up', 'c-up']);

    await queue.remove(inFlight.map((queued) => queued.id));
    expect(await headIds(queue)).toEqual(['d-up', 'a-down', 'b-down']);
  });

  it('removes nothing when the whole batch in flight was dropped meanwhile', async () => {
    const queue = new MemoryWebhookQueue(2);
    queue.enqueueNow([change('a', true), change('b', true)]);
    const inFlight = held(await queue.lease(1000, 2)).head;
    queue.enqueueNow([change('a', false), change('b', false)]);

    await queue.remove(inFlight.map((queued) => queued.id));
    expect(await headIds(queue)).toEqual(['a-down', 'b-down']);
  });

  it('keeps exactly the newest events, in order, through many drops (past the array compaction)', async () => {
    const queueMax = 1500;
    const queue = new MemoryWebhookQueue(queueMax);
    let dropped = 0;
    for (let n = 0; n < 10_000; n++) dropped += queue.enqueueNow([change(`u${n}`, n % 2 === 0)]);
    expect(dropped).toBe(10_000 - queueMax);
    const ids = await headIds(queue);
    expect(ids).toEqual(Array.from({ length: queueMax }, (_, i) => change(`u${10_000 - queueMax + i}`, (10_000 - queueMax + i) % 2 === 0).id));

    // Delivery drains it from the head as before.
    await queue.remove(ids.slice(0, 1000));
    expect(await headIds(queue)).toEqual(ids.slice(1000));
    await queue.remove(ids.slice(1000));
    expect(held(await queue.lease(1000, 10))).toMatchObject({ depth: 0, head: [] });
  });
});
