import { Broadcast, Delivery } from '../../src/broker/broker';
import { Engine } from '../../src/broker/engine';
import { formatSeq, parseSeq } from '../../src/broker/seq';
import { eventually } from '../support/eventually';
import { DeliveryLog } from './broker.contract';
import { EngineHarness } from './engine-harness';

/** What NotificationsService publishes to a personal room. */
const notification = (id: string, type = 'ping') => ({ id, room: 'user:alice', type, payload: { n: id }, timestamp: '2024-01-01T00:00:00.000Z' });

async function notify(engine: Engine, user: string, id: string): Promise<string> {
  const result = await engine.broker.publish(`user:${user}`, 'notification', { ...notification(id), room: `user:${user}` }, { inboxUser: user });
  if (result.duplicate) throw new Error(`${id} was a duplicate`);
  return result.seq;
}

const isInboxEvent = (delivery: Delivery): delivery is Broadcast => delivery.kind === 'broadcast' && delivery.frame.includes('"event":"inbox"');
const inboxEventsOf = (log: DeliveryLog, user: string) => log.of(`user:${user}`).filter(isInboxEvent).map((event) => JSON.parse(event.frame) as unknown);

let markers = 0;

/**
 * Broadcasts a marker to the user's personal room and waits until `log` has it: everything the
 * pod was sent for the room before it has arrived too (delivery keeps order). Returns where it is.
 */
async function heardUpTo(engine: Engine, log: DeliveryLog, room: string): Promise<number> {
  const marker = `{"event":"marker","data":${++markers}}`;
  await engine.broker.broadcast(room, marker);
  const at = () => log.of(room).findIndex((delivery) => delivery.kind === 'broadcast' && delivery.frame === marker);
  await eventually(() => expect(at()).toBeGreaterThanOrEqual(0));
  return at();
}

/**
 * Marks read on `engine` and says what the user's connections heard of it: the unread count the
 * store answered, and the event's `read` (null when the mark sent no event). `log` follows the
 * user's personal room on that pod.
 */
async function markAndHear(engine: Engine, log: DeliveryLog, user: string, selection: string[] | 'all'): Promise<{ unread: number; read: unknown }> {
  const room = `user:${user}`;
  const before = await heardUpTo(engine, log, room);
  const unread = await engine.inbox.markRead(user, selection);
  const after = await heardUpTo(engine, log, room);
  const events = log.of(room).slice(before + 1, after).filter(isInboxEvent);
  if (events.length > 1) throw new Error(`one mark sent ${events.length} inbox events`);
  return { unread, read: events.length === 0 ? null : (JSON.parse(events[0].frame) as { data: { read: unknown } }).data.read };
}

/** A pod's delivery log with the users' personal rooms followed. */
async function following(engine: Engine, ...users: string[]): Promise<DeliveryLog> {
  const log = new DeliveryLog(engine.broker);
  for (const user of users) await engine.broker.subscribe(`user:${user}`);
  return log;
}

/**
 * The InboxStore contract (src/broker/inbox.store.ts), run against every engine's driver: the
 * inbox a publish with `inboxUser` writes, read back in pages, marked read, trimmed and expired.
 */
export function inboxStoreContract(harness: EngineHarness): void {
  const itWithPods: (name: string, test: () => Promise<void>) => void = harness.multiPod ? it : () => undefined;
  afterEach(() => harness.closeAll());

  it('pages newest first: `before` pages back and `next` is the cursor to the rest', async () => {
    const engine = await (await harness.cluster()).pod();
    const seqs: string[] = [];
    for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) seqs.push(await notify(engine, 'alice', id));

    const first = await engine.inbox.read('alice', 2);
    expect(first.items.map((item) => item.id)).toEqual(['n5', 'n4']);
    expect(first.items[0]).toEqual({ id: 'n5', seq: seqs[4], type: 'ping', payload: { n: 'n5' }, timestamp: '2024-01-01T00:00:00.000Z', read: false });
    expect(first).toMatchObject({ unread: 5, next: seqs[3] });
    const second = await engine.inbox.read('alice', 2, first.next!);
    expect(second.items.map((item) => item.id)).toEqual(['n3', 'n2']);
    expect(second.next).toBe(seqs[1]);
    const last = await engine.inbox.read('alice', 2, second.next!);
    expect(last.items.map((item) => item.id)).toEqual(['n1']);
    expect(last).toMatchObject({ unread: 5, next: null });
    expect(await engine.inbox.read('alice', 10)).toMatchObject({ next: null, unread: 5 });
    expect((await engine.inbox.read('alice', 10)).items).toHaveLength(5);
  });

  it('reads, pages and marks ids that JSON writes with escapes, and ids that look like JSON', async () => {
    const engine = await (await harness.cluster()).pod();
    const ids = ['plain', 'quote"d', 'back\\slash', 'tab\there', 'é-ü', '{"id":"fake"}'];
    const seqs: string[] = [];
    for (const id of ids) seqs.push(await notify(engine, 'alice', id));
    const newestFirst = [...ids].reverse();
    expect((await engine.inbox.read('alice', 10)).items.map((item) => item.id)).toEqual(newestFirst);
    // A page cut just before an escaped id, and the next one from its cursor.
    const first = await engine.inbox.read('alice', 3);
    expect(first.items.map((item) => item.id)).toEqual(newestFirst.slice(0, 3));
    expect(first.next).toBe(seqs[3]);
    expect((await engine.inbox.read('alice', 3, first.next!)).items.map((item) => item.id)).toEqual(newestFirst.slice(3));
    expect(await engine.inbox.markRead('alice', ['quote"d', 'back\\slash', '{"id":"fake"}'])).toBe(3);
    const page = await engine.inbox.read('alice', 10);
    expect(page.items.filter((item) => item.read).map((item) => item.id)).toEqual(['{"id":"fake"}', 'back\\slash', 'quote"d']);
    expect(page.unread).toBe(3);
  });

  it('stores only what a publish asked for, per user', async () => {
    const engine = await (await harness.cluster()).pod();
    await notify(engine, 'alice', 'n1');
    await engine.broker.publish('user:bob', 'notification', notification('n2'));
    await engine.broker.publish('news', 'notification', notification('n3'));
    expect((await engine.inbox.read('alice', 10)).items.map((item) => item.id)).toEqual(['n1']);
    expect(await engine.inbox.read('bob', 10)).toEqual({ items: [], unread: 0, next: null });
    expect(await engine.inbox.read('nobody', 10)).toEqual({ items: [], unread: 0, next: null });
  });

  it('marks the ids named, ignores unknown ones, and tells only what changed', async () => {
    const engine = await (await harness.cluster()).pod();
    const log = await following(engine, 'alice', 'bob');
    for (const id of ['n1', 'n2', 'n3']) await notify(engine, 'alice', id);
    expect(await markAndHear(engine, log, 'alice', ['n1', 'unknown'])).toEqual({ unread: 2, read: ['n1'] });
    expect(await markAndHear(engine, log, 'alice', ['n1'])).toEqual({ unread: 2, read: null });
    expect(await markAndHear(engine, log, 'alice', ['unknown'])).toEqual({ unread: 2, read: null });
    const page = await engine.inbox.read('alice', 10);
    expect(page.items.map((item) => [item.id, item.read])).toEqual([
      ['n3', false],
      ['n2', false],
      ['n1', true],
    ]);
    expect(page.unread).toBe(2);
    expect(await markAndHear(engine, log, 'bob', ['n1'])).toEqual({ unread: 0, read: null });
  });

  it('marks all, once: a second mark-all changes nothing', async () => {
    const engine = await (await harness.cluster()).pod();
    const log = await following(engine, 'alice');
    for (const id of ['n1', 'n2']) await notify(engine, 'alice', id);
    await engine.inbox.markRead('alice', ['n2']);
    expect(await markAndHear(engine, log, 'alice', 'all')).toEqual({ unread: 0, read: 'all' });
    expect(await markAndHear(engine, log, 'alice', 'all')).toEqual({ unread: 0, read: null });
    expect((await engine.inbox.read('alice', 10)).items.every((item) => item.read)).toBe(true);
    await notify(engine, 'alice', 'n3');
    expect((await engine.inbox.read('alice', 10)).unread).toBe(1);
  });

  it('tells the user\'s connections of a mark that changed something: one inbox event, ids in the order named, JSON-escaped', async () => {
    const engine = await (await harness.cluster()).pod();
    const log = new DeliveryLog(engine.broker);
    await engine.broker.subscribe('user:alice');
    const odd = 'n"2/\\ é';
    for (const id of ['n1', odd, 'n3']) await notify(engine, 'alice', id);
    await engine.inbox.markRead('alice', ['n3', 'unknown', 'n1', 'n3']);
    await engine.inbox.markRead('alice', ['n1']); // nothing changed: no event
    await engine.inbox.markRead('alice', [odd]);
    await engine.inbox.markRead('alice', 'all'); // everything is read already: no event
    await notify(engine, 'alice', 'n4');
    await engine.inbox.markRead('alice', 'all');
    await eventually(() => expect(inboxEventsOf(log, 'alice')).toHaveLength(3));
    expect(inboxEventsOf(log, 'alice')).toEqual([
      { event: 'inbox', data: { unread: 1, read: ['n3', 'n1'] } },
      { event: 'inbox', data: { unread: 0, read: [odd] } },
      { event: 'inbox', data: { unread: 0, read: 'all' } },
    ]);
    expect(log.of('user:bob')).toEqual([]);
  });

  it('sends the inbox event in the mark\'s step: its count plus the notifications delivered after it is the inbox\'s unread', async () => {
    const engine = await (await harness.cluster()).pod();
    const log = new DeliveryLog(engine.broker);
    await engine.broker.subscribe('user:alice');
    await notify(engine, 'alice', 'n0');
    // Started together: the publishes land while the mark's answer is still on its way back, where
    // an event sent as a step of its own would follow them with a count from before them.
    await Promise.all([engine.inbox.markRead('alice', 'all'), ...['n1', 'n2', 'n3'].map((id) => notify(engine, 'alice', id))]);
    await eventually(() => expect(log.of('user:alice')).toHaveLength(5));
    const deliveries = log.of('user:alice');
    const at = deliveries.findIndex(isInboxEvent);
    const { data } = JSON.parse((deliveries[at] as Broadcast).frame) as { data: { unread: number } };
    const deliveredAfter = deliveries.slice(at + 1).filter((delivery) => delivery.kind === 'publication').length;
    expect(data.unread + deliveredAfter).toBe((await engine.inbox.read('alice', 10)).unread);
  });

  itWithPods('delivers the inbox event to the user\'s connections on every pod', async () => {
    const cluster = await harness.cluster();
    const a = await cluster.pod();
    const b = await cluster.pod();
    const onA = new DeliveryLog(a.broker);
    await a.broker.subscribe('user:alice');
    await notify(b, 'alice', 'n1');
    await b.inbox.markRead('alice', ['n1']);
    await eventually(() => expect(inboxEventsOf(onA, 'alice')).toEqual([{ event: 'inbox', data: { unread: 0, read: ['n1'] } }]));
  });

  it('keeps INBOX_SIZE items, and a trimmed item takes its read mark with it', async () => {
    const engine = await (await harness.cluster({ inboxSize: 3 })).pod();
    const log = await following(engine, 'alice');
    await notify(engine, 'alice', 'n1');
    await notify(engine, 'alice', 'n2');
    await engine.inbox.markRead('alice', ['n1']);
    for (const id of ['n3', 'n4', 'n5']) await notify(engine, 'alice', id);
    const page = await engine.inbox.read('alice', 10);
    expect(page.items.map((item) => item.id)).toEqual(['n5', 'n4', 'n3']);
    expect(page).toMatchObject({ unread: 3, next: null });
    expect(await markAndHear(engine, log, 'alice', ['n1', 'n2'])).toEqual({ unread: 3, read: null });
  });

  it('keeps a read mark per item: a notification published again with the same id is a new unread item, whatever becomes of the older copy', async () => {
    const engine = await (await harness.cluster({ inboxSize: 3 })).pod();
    // The publisher's id, used again once its de-duplication window has passed.
    await notify(engine, 'alice', 'k');
    await engine.inbox.markRead('alice', ['k']);
    await notify(engine, 'alice', 'k');
    expect((await engine.inbox.read('alice', 10)).items.map((item) => [item.id, item.read])).toEqual([
      ['k', false],
      ['k', true],
    ]);
    expect((await engine.inbox.read('alice', 10)).unread).toBe(1);
    // The older copy is trimmed: the newer one stays as it was.
    await notify(engine, 'alice', 'n1');
    await notify(engine, 'alice', 'n2');
    const page = await engine.inbox.read('alice', 10);
    expect(page.items.map((item) => [item.id, item.read])).toEqual([
      ['n2', false],
      ['n1', false],
      ['k', false],
    ]);
    expect(page.unread).toBe(3);
    // Marking the id marks every item that carries it.
    await engine.inbox.markRead('alice', ['n1']);
    await notify(engine, 'alice', 'k');
    expect((await engine.inbox.read('alice', 10)).items.map((item) => item.id)).toEqual(['k', 'n2', 'n1']);
    await notify(engine, 'alice', 'k');
    expect(await engine.inbox.markRead('alice', ['k'])).toBe(1);
    expect((await engine.inbox.read('alice', 10)).items.map((item) => [item.id, item.read])).toEqual([
      ['k', true],
      ['k', true],
      ['n2', false],
    ]);
  });

  it('tells whether the item with an id at a seq is in the inbox and read, at any depth', async () => {
    const engine = await (await harness.cluster()).pod();
    const ids = Array.from({ length: 40 }, (_, i) => `n${i}`);
    ids[7] = 'quote"d';
    ids[23] = 'é-ü';
    const seqs: string[] = [];
    for (const id of ids) seqs.push(await notify(engine, 'alice', id));
    const read = ids.filter((_, i) => i % 3 === 0);
    await engine.inbox.markRead('alice', read);
    const states = await Promise.all(ids.map((id, i) => engine.inbox.itemState('alice', { id, seq: seqs[i] })));
    expect(states).toEqual(ids.map((id) => (read.includes(id) ? 'read' : 'unread')));
    // Another id at the seq, and a seq no item has: newer than all, between two, older than all.
    const { epoch, position } = parseSeq(seqs[39])!;
    const { position: oldest } = parseSeq(seqs[0])!;
    for (const [id, seq] of [
      ['n8', seqs[9]],
      ['n39', formatSeq(epoch, position + 1)],
      ['n20', `${seqs[20]}0`],
      ['n0', formatSeq(epoch, oldest - 1)],
      ['n0', ''],
    ]) {
      expect(await engine.inbox.itemState('alice', { id, seq })).toBe('absent');
    }
    expect(await engine.inbox.itemState('bob', { id: 'n1', seq: seqs[1] })).toBe('absent');
  });

  it('tells an item trimmed or published again with the same id apart from the notification at a seq', async () => {
    const engine = await (await harness.cluster({ inboxSize: 3 })).pod();
    const first = await notify(engine, 'alice', 'k');
    await engine.inbox.markRead('alice', ['k']);
    const again = await notify(engine, 'alice', 'k');
    expect(await engine.inbox.itemState('alice', { id: 'k', seq: first })).toBe('read');
    expect(await engine.inbox.itemState('alice', { id: 'k', seq: again })).toBe('unread');
    const n1 = await notify(engine, 'alice', 'n1');
    expect(await engine.inbox.itemState('alice', { id: 'k', seq: n1 })).toBe('absent');
    // The read copy trimmed: absent, though its id is still in the inbox.
    await notify(engine, 'alice', 'n2');
    expect(await engine.inbox.itemState('alice', { id: 'k', seq: first })).toBe('absent');
    expect(await engine.inbox.itemState('alice', { id: 'k', seq: again })).toBe('unread');
  });

  it('forgets items older than INBOX_TTL_DAYS', async () => {
    const engine = await (await harness.cluster({ inboxTtlMs: 1000 })).pod();
    const log = await following(engine, 'alice');
    const n1 = await notify(engine, 'alice', 'n1');
    expect((await engine.inbox.read('alice', 10)).items).toHaveLength(1);
    expect(await engine.inbox.itemState('alice', { id: 'n1', seq: n1 })).toBe('unread');
    await eventually(async () => expect(await engine.inbox.itemState('alice', { id: 'n1', seq: n1 })).toBe('absent'), 4000, 100);
    expect(await engine.inbox.read('alice', 10)).toEqual({ items: [], unread: 0, next: null });
    expect(await markAndHear(engine, log, 'alice', 'all')).toEqual({ unread: 0, read: null });
    await notify(engine, 'alice', 'n2');
    expect((await engine.inbox.read('alice', 10)).items.map((item) => item.id)).toEqual(['n2']);
  });

  itWithPods('is the same inbox on every pod', async () => {
    const cluster = await harness.cluster();
    const a = await cluster.pod();
    const b = await cluster.pod();
    const onB = await following(b, 'alice');
    await notify(a, 'alice', 'n1');
    await notify(b, 'alice', 'n2');
    expect((await b.inbox.read('alice', 10)).items.map((item) => item.id)).toEqual(['n2', 'n1']);
    expect(await markAndHear(b, onB, 'alice', ['n1'])).toEqual({ unread: 1, read: ['n1'] });
    expect((await a.inbox.read('alice', 10)).items.map((item) => item.read)).toEqual([false, true]);
  });
}
