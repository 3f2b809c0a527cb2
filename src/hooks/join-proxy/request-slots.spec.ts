import { RequestSlots } from './request-slots';

describe('RequestSlots', () => {
  it('lets `max` requests through at once and the rest in arrival order as slots free', async () => {
    const slots = new RequestSlots(2);
    const never = new AbortController().signal;
    const first = await slots.acquire(never);
    const second = await slots.acquire(never);
    const order: string[] = [];
    const third = slots.acquire(never).then((release) => (order.push('third'), release));
    const fourth = slots.acquire(never).then((release) => (order.push('fourth'), release));
    expect(slots.queued).toBe(2);

    first();
    first(); // a second call gives nothing back twice
    (await third)();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
    expect(slots.queued).toBe(0);
    second();
    // Two slots again: the fourth's and a free one.
    const again = await slots.acquire(never);
    await expect(Promise.race([slots.acquire(never).then(() => 'got'), Promise.resolve('waits')])).resolves.toBe('waits');
    again();
  });

  it('ends a wait when its signal aborts, with the signal reason, and skips it when a slot frees', async () => {
    const slots = new RequestSlots(1);
    const release = await slots.acquire(new AbortController().signal);
    const timeout = new AbortController();
    const abandoned = slots.acquire(timeout.signal);
    const patient = slots.acquire(new AbortController().signal);
    timeout.abort(new Error('no answer in time'));
    await expect(abandoned).rejects.toThrow('no answer in time');
    expect(slots.queued).toBe(1);
    release();
    const next = await patient;
    expect(slots.queued).toBe(0);
    next();
  });

  it('answers a waiter with under minLeftMs left when a slot frees as timed out, unsent, and passes the slot on', async () => {
    const slots = new RequestSlots(1, 100);
    const never = new AbortController().signal;
    const release = await slots.acquire(never);
    const now = Date.now();
    // Its own timeout would fire a moment after the request ahead of it gave up.
    const almostOut = slots.acquire(never, now + 50);
    const timely = slots.acquire(never, now + 60_000);
    const alsoAlmostOut = slots.acquire(never, now + 99);
    release();
    await expect(almostOut).rejects.toMatchObject({ name: 'TimeoutError' });
    const next = await timely;
    expect(slots.queued).toBe(1);
    next();
    await expect(alsoAlmostOut).rejects.toMatchObject({ name: 'TimeoutError' });
    // Nobody took the slot: it is free again.
    expect(slots.queued).toBe(0);
    const free = await slots.acquire(never, now + 50);
    free();
  });

  it('refuses at once a signal that has already aborted', async () => {
    const slots = new RequestSlots(1);
    const aborted = AbortSignal.abort(new Error('shutting down'));
    await expect(slots.acquire(aborted)).rejects.toThrow('shutting down');
  });
});
