import { jest } from '@jest/globals';
import { InboxItem, InboxPage } from '@herald/client/protocol';
import { InboxItemState, InboxStore } from '../../broker/inbox.store';
import { MemoryInboxStore } from '../../broker/memory/memory.inbox-store';
import { formatSeq } from '../../broker/seq';
import { WebhookSettings } from '../../config/herald.config';
import { UnreadSchedule } from './unread.schedule';
import { UnreadWatcher } from './unread.watcher';
import { QueuedEvent, UnreadCheck, UnstampedEvent } from './webhook-event';
import { Lease, WebhookQueue } from './webhook.queue';

/** A schedule whose writes settle when the test says. */
class HeldSchedule extends UnreadSchedule {
  readonly writes: { checks: UnreadCheck[]; settle: (error?: Error) => void }[] = [];
  add(checks: UnreadCheck[]): Promise<number> {
    return new Promise((resolve, reject) => this.writes.push({ checks, settle: (error) => (error ? reject(error) : resolve(0)) }));
  }
  async claimDue(): Promise<UnreadCheck[]> {
    return [];
  }
  async done(): Promise<void> {}
}

const settings = { unreadAfterS: 60, queueMax: 100 } as WebhookSettings;
const check = (id: string): UnreadCheck => ({ user: 'ann', notification: { id, seq: `e-${id}`, type: 't' } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('UnreadWatcher', () => {
  it('answers a watch once the write that took its check has settled, so the publish is answered after it', async () => {
    const schedule = new HeldSchedule();
    const watcher = new UnreadWatcher(schedule, {} as WebhookQueue, {} as InboxStore, settings, () => undefined);
    let answered = 0;
    void watcher.watch(check('a')).then(() => answered++);
    void watcher.watch(check('b')).then(() => answered++);
    await turn();
    // One write for the turn's checks, not yet settled: nobody is answered.
    expect(schedule.writes.map((write) => write.checks.map((c) => c.notification.id))).toEqual([['a', 'b']]);
    expect(answered).toBe(0);
    // A check watched during that write goes in the next, right after it.
    void watcher.watch(check('c')).then(() => answered++);
    await turn();
    schedule.writes[0].settle();
    await turn();
    expect(answered).toBe(2);
    expect(schedule.writes.map((write) => write.checks.map((c) => c.notification.id))).toEqual([['a', 'b'], ['c']]);
    // A failed write answers all the same (the notification is stored) and keeps its checks for the next look.
    schedule.writes[1].settle(new Error('Redis is down'));
    await turn();
    expect(answered).toBe(3);
    const closing = watcher.close();
    await turn();
    expect(schedule.writes.at(-1)!.checks.map((c) => c.notification.id)).toEqual(['c']);
    schedule.writes.at(-1)!.settle();
    await closing;
  });
});

/**
 * The in-process inbox, counting what the watcher asks of it: its item look-ups (and whether a
 * turn of the event loop passed between them), and its page reads, which the watcher makes none of.
 */
class CountingInbox extends MemoryInboxStore {
  lookups = 0;
  pageReads = 0;
  /** Whether a turn of the event loop passed between look-ups (set by a setImmediate each one leaves). */
  readonly turnBetweenLookups: boolean[] = [];
  private turned = true;
  constructor() {
    super({ inboxSize: 10_000, inboxTtlMs: 86_400_000 }, () => undefined);
  }
  override itemState(user: string, item: Pick<InboxItem, 'id' | 'seq'>): Promise<InboxItemState> {
    this.lookups++;
    this.turnBetweenLookups.push(this.turned);
    this.turned = false;
    setImmediate(() => (this.turned = true));
    return super.itemState(user, item);
  }
  override read(user: string, limit: number, before?: string): Promise<InboxPage> {
    this.pageReads++;
    return super.read(user, limit, before);
  }
  /** Stores the items, oldest first, as MemoryBroker does, then marks those read. */
  static holding(user: string, oldestFirst: InboxItem[]): CountingInbox {
    const inbox = new CountingInbox();
    for (const { id, seq, type, payload, timestamp } of oldestFirst) inbox.add(user, seq, { id, type, payload, timestamp }, Date.now());
    void inbox.markRead(user, oldestFirst.filter((item) => item.read).map((item) => item.id));
    return inbox;
  }
}

/** A schedule that has `due` due, each claimed once. */
class DueSchedule extends UnreadSchedule {
  constructor(private due: UnreadCheck[]) {
    super();
  }
  async add(): Promise<number> {
    return 0;
  }
  async claimDue(max: number): Promise<UnreadCheck[]> {
    return this.due.splice(0, max);
  }
  async done(): Promise<void> {}
}

class CollectingQueue extends WebhookQueue {
  readonly durable = false;
  readonly events: UnstampedEvent[] = [];
  async enqueue(events: UnstampedEvent[]): Promise<number> {
    this.events.push(...events);
    return 0;
  }
  async lease(): Promise<Lease> {
    return { held: true, nowMs: 0, depth: 0, head: [] as QueuedEvent[] };
  }
  async remove(): Promise<void> {}
  async release(): Promise<void> {}
}

describe('UnreadWatcher checks', () => {
  // The clock stands still but for what a test moves: a look comes only when the test lets one.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  /**
   * Starts the watcher and lets its first look come (one look interval after the start: 1 s for
   * a 60 s delay), then turns the event loop until `done` holds (or for good, a few thousand
   * turns), the clock held still: no other look starts meanwhile unless the watcher starts it.
   */
  async function firstLook(watcher: UnreadWatcher, done: () => boolean): Promise<void> {
    watcher.start();
    await jest.advanceTimersByTimeAsync(1_000);
    for (let turns = 0; turns < 5_000 && !done(); turns++) await turn();
  }

  it('look up each notification\'s one item, never a page of the inbox, one check per turn of the event loop', async () => {
    const epoch = '0000000000abcd';
    const item = (position: number, read = false): InboxItem => ({ id: `n-${position}`, seq: formatSeq(epoch, position), type: 't', payload: {}, timestamp: '', read });
    // 5,000 items, positions 6,000 down to 1,001 (the first 1,000 trimmed), those with position % 5 under 2 read.
    const newestFirst = Array.from({ length: 5000 }, (_, i) => item(6000 - i, (6000 - i) % 5 < 2));
    const inbox = CountingInbox.holding('ann', [...newestFirst].reverse());
    const checked = [5999, 5998, 5997, 1001, 1002, 500, 3];
    const due: UnreadCheck[] = checked.map((position) => ({ user: 'ann', notification: { id: `n-${position}`, seq: formatSeq(epoch, position), type: 't' } }));
    // The same id under another seq (published again): not this notification.
    due.push({ user: 'ann', notification: { id: 'n-5999', seq: formatSeq(epoch, 5996), type: 't' } });
    // Another user's inbox, and a seq of another shape: no item.
    due.push({ user: 'bob', notification: { id: 'n-5998', seq: formatSeq(epoch, 5998), type: 't' } });
    due.push({ user: 'ann', notification: { id: 'n-5998', seq: 'e-5998', type: 't' } });
    const queue = new CollectingQueue();
    const watcher = new UnreadWatcher(new DueSchedule([...due]), queue, inbox, settings, () => undefined);
    await firstLook(watcher, () => inbox.lookups === due.length);
    for (let turns = 0; turns < 10; turns++) await turn();
    // Unread: those still in the inbox and not read (position % 5 of 2 and up).
    const unread = checked.filter((position) => position > 1000 && position % 5 >= 2);
    expect(queue.events.map((event) => (event as { notification: { id: string } }).notification.id)).toEqual(unread.map((position) => `n-${position}`));
    // Before: a page read per check, each counting the whole inbox's unread items.
    expect(inbox.lookups).toBe(due.length);
    expect(inbox.pageReads).toBe(0);
    expect(inbox.turnBetweenLookups.every(Boolean)).toBe(true);
    await watcher.close();
    inbox.close();
  });

  it('puts the checks it claimed back in the schedule, due again in 5 s, when their events could not be queued (not when their claim lapses, 30 s on)', async () => {
    const newestFirst = [2, 1].map((position): InboxItem => ({ id: `n-${position}`, seq: formatSeq('0000000000abcd', position), type: 't', payload: {}, timestamp: '', read: false }));
    const due = newestFirst.map((item): UnreadCheck => ({ user: 'ann', notification: { id: item.id, seq: item.seq, type: 't' } }));
    const schedule = new DueSchedule([...due]);
    const added: Array<[UnreadCheck[], number]> = [];
    (schedule as UnreadSchedule).add = async (checks: UnreadCheck[], delayMs: number) => (added.push([checks, delayMs]), 0);
    const queue = new CollectingQueue();
    queue.enqueue = () => Promise.reject(new Error('Redis did not answer in time'));
    const inbox = CountingInbox.holding('ann', [...newestFirst].reverse());
    const watcher = new UnreadWatcher(schedule, queue, inbox, settings, () => undefined);
    await firstLook(watcher, () => added.length === 1);
    expect(added).toEqual([[due, 5_000]]);
    await watcher.close();
    inbox.close();
  });

  it('looks again at once after a look that claimed as many checks as it may, so a burst is not held to one claim per look interval', async () => {
    const epoch = '0000000000abcd';
    const newestFirst = Array.from({ length: 250 }, (_, i): InboxItem => ({ id: `n-${250 - i}`, seq: formatSeq(epoch, 250 - i), type: 't', payload: {}, timestamp: '', read: false }));
    const due = newestFirst.map((item): UnreadCheck => ({ user: 'ann', notification: { id: item.id, seq: item.seq, type: 't' } }));
    const queue = new CollectingQueue();
    const inbox = CountingInbox.holding('ann', [...newestFirst].reverse());
    const watcher = new UnreadWatcher(new DueSchedule(due), queue, inbox, settings, () => undefined);
    // Before: 100 (one claim), the rest a look interval later, which the still clock never brings.
    await firstLook(watcher, () => queue.events.length === 250);
    expect(queue.events).toHaveLength(250);
    await watcher.close();
    inbox.close();
  });
});
