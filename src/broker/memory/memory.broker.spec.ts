import { parseSeq } from '../seq';
import { MemoryBroker } from './memory.broker';
import { MemoryInboxStore } from './memory.inbox-store';

const HISTORY_TTL_S = 60;
const TTL_MS = HISTORY_TTL_S * 1000;
const body = (text: string) => ({ text });
const epochOf = (seq: string | null) => parseSeq(seq!)!.epoch;

describe('MemoryBroker room histories', () => {
  let broker: MemoryBroker;
  let inbox: MemoryInboxStore;

  beforeEach(() => {
    // Deliveries go out on a microtask: left real, so only the clock and the sweep are faked.
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['queueMicrotask', 'nextTick'] });
    inbox = new MemoryInboxStore({ inboxSize: 10, inboxTtlMs: TTL_MS }, () => undefined);
    broker = new MemoryBroker({ historySize: 100, historyTtlS: HISTORY_TTL_S }, inbox);
  });
  afterEach(async () => {
    await broker.close();
    inbox.close();
    jest.useRealTimers();
  });

  /** A member joins the room (subscribes, reads its latest seq) and leaves: the seq it was handed. */
  async function joinAndLeave(room: string): Promise<string> {
    await broker.subscribe(room);
    const { latestSeq } = await broker.history(room);
    await broker.unsubscribe(room);
    return latestSeq!;
  }

  it('recovers what was published to a room nobody published to, after its last member left', async () => {
    const joined = await joinAndLeave('quiet');
    expect(parseSeq(joined)!.position).toBe(0);
    jest.advanceTimersByTime(TTL_MS / 2);
    const seqs: string[] = [];
    for (const text of ['m1', 'm2', 'm3']) seqs.push(((await broker.publish('quiet', 'message', body(text))) as { seq: string }).seq);
    const missed = await broker.history('quiet', joined);
    expect(missed).toMatchObject({ latestSeq: seqs[2], recovered: true });
    expect(missed.publications.map((publication) => publication.seq)).toEqual(seqs);
  });

  it('holds a room nobody is in for HISTORY_TTL_S after it was last used, then lets it go', async () => {
    const joined: string[] = [];
    for (let index = 0; index < 1000; index++) joined.push(await joinAndLeave(`quiet-${index}`));
    expect(broker.retained().historyRooms).toBe(1000);
    jest.advanceTimersByTime(TTL_MS - 1);
    expect(broker.retained().historyRooms).toBe(1000);
    // The sweep runs every 30 s at most: by then every room's window has passed.
    jest.advanceTimersByTime(30_000);
    expect(broker.retained().historyRooms).toBe(0);
    // A seq of a dropped life never claims continuity.
    const published = (await broker.publish('quiet-7', 'message', body('m1'))) as { seq: string };
    expect(epochOf(published.seq)).not.toBe(epochOf(joined[7]));
    expect(await broker.history('quiet-7', joined[7])).toEqual({ latestSeq: published.seq, recovered: false, publications: [] });
  });

  it('counts the window from the last use of the room: a join, a read or a publication keeps it going', async () => {
    const joined = await joinAndLeave('quiet');
    jest.advanceTimersByTime(TTL_MS - 1000);
    // Another client joins and leaves: the room lives for another HISTORY_TTL_S.
    expect(await joinAndLeave('quiet')).toBe(joined);
    jest.advanceTimersByTime(TTL_MS - 1000);
    const published = (await broker.publish('quiet', 'message', body('m1'))) as { seq: string };
    expect(epochOf(published.seq)).toBe(epochOf(joined));
    jest.advanceTimersByTime(TTL_MS - 1000);
    expect((await broker.history('quiet', joined)).recovered).toBe(true);
  });

  it('keeps a subscribed room however long it stays quiet, and counts the window from its last leave', async () => {
    await broker.subscribe('lobby');
    const joined = (await broker.history('lobby')).latestSeq!;
    jest.advanceTimersByTime(3 * TTL_MS);
    expect(broker.retained().historyRooms).toBe(1);
    await broker.unsubscribe('lobby');
    jest.advanceTimersByTime(TTL_MS - 1000);
    const published = (await broker.publish('lobby', 'message', body('m1'))) as { seq: string };
    expect(epochOf(published.seq)).toBe(epochOf(joined));
    expect((await broker.history('lobby', joined)).publications.map((publication) => publication.seq)).toEqual([published.seq]);
  });
});

describe('MemoryBroker history memory budget (HISTORY_MEMORY_MAX_MB)', () => {
  const big = { blob: 'x'.repeat(50_000) };
  const keptBytes = (broker: MemoryBroker) => (broker as unknown as { historyBytes: number }).historyBytes;
  const budgeted = (historyMemoryMaxBytes: number) =>
    new MemoryBroker({ historySize: 100, historyTtlS: 600, historyMemoryMaxBytes }, new MemoryInboxStore({ inboxSize: 10, inboxTtlMs: 60_000 }, () => undefined));
  /** A client joining and leaving `count` fresh rooms, nothing said in them: each held for HISTORY_TTL_S, about 330 bytes apiece. */
  async function joinAndLeaveFreshRooms(broker: MemoryBroker, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const room = `public:fresh-${i}`;
      await broker.subscribe(room);
      await broker.history(room);
      await broker.unsubscribe(room);
    }
  }

  it('drops the oldest messages of any room past the budget, and a rejoin that needed them is not recovered', async () => {
    const broker = budgeted(1_000_000);
    const first = await broker.history('room:0');
    const seqs: string[] = [];
    // A publish to many rooms keeps a copy of its body per room: 100 x 50 KB is 5 MB without a budget.
    for (let room = 0; room < 100; room++) seqs.push(((await broker.publish(`room:${room}`, 'notification', big)) as { seq: string }).seq);
    expect(keptBytes(broker)).toBeLessThanOrEqual(1_000_000);
    expect(keptBytes(broker)).toBeGreaterThan(900_000);
    expect(await broker.history('room:0', first.latestSeq!)).toMatchObject({ recovered: false, publications: [] });
    const last = await broker.history('room:99', undefined);
    expect(last.latestSeq).toBe(seqs[99]);
    await broker.close();
  });

  it('past the budget lets go down to an eighth below it, so the writes that follow let go of nothing until it fills again', async () => {
    const broker = budgeted(1_000_000);
    const kept: number[] = [];
    for (let room = 0; room < 100; room++) {
      await broker.publish(`room:${room}`, 'notification', big);
      kept.push(keptBytes(broker));
    }
    // A pass shows as a fall of what is kept: each one goes down to 875,000 or below.
    const passes = kept.filter((bytes, index) => index > 0 && bytes < kept[index - 1]);
    expect(passes.length).toBeGreaterThan(0);
    for (const bytes of passes) expect(bytes).toBeLessThanOrEqual(875_000);
    // 80 messages past the budget, and a pass each 125,000 bytes (about 2.5 messages), not one each.
    expect(passes.length).toBeLessThanOrEqual(40);
    expect(Math.max(...kept)).toBeLessThanOrEqual(1_000_000);
    await broker.close();
  });

  it('counts the rooms it holds too: joined and left once, fresh rooms are let go past the budget, never one with members', async () => {
    const broker = budgeted(100_000);
    await broker.subscribe('public:stays');
    const kept = (await broker.history('public:stays')).latestSeq!;
    await joinAndLeaveFreshRooms(broker, 2000);
    expect(broker.retained().historyRooms).toBeLessThan(400);
    // The room with a member keeps its epoch, so its joined seq still recovers what follows.
    await broker.publish('public:stays', 'message', { text: 'after' });
    expect(await broker.history('public:stays', kept)).toMatchObject({ recovered: true, publications: [expect.objectContaining({ room: 'public:stays' })] });
    // Under the budget, a left room keeps its epoch for the window, as before.
    const quiet = budgeted(100_000);
    for (let i = 0; i < 10; i++) await quiet.history(`public:fresh-${i}`);
    expect(quiet.retained().historyRooms).toBe(10);
    await Promise.all([broker.close(), quiet.close()]);
  });

  it('lets go of rooms nobody is in that hold no message before it empties any history', async () => {
    const broker = budgeted(100_000);
    // A room talked in, its last member gone: its history is what a rejoin with `since` needs.
    await broker.subscribe('public:talked');
    const joined = (await broker.history('public:talked')).latestSeq!;
    for (let i = 0; i < 20; i++) await broker.publish('public:talked', 'message', { text: `m${i}` });
    await broker.unsubscribe('public:talked');
    // Then a flood of fresh rooms joined and left: far past the budget.
    await joinAndLeaveFreshRooms(broker, 2000);
    expect(broker.retained().historyRooms).toBeLessThan(400);
    const rejoin = await broker.history('public:talked', joined);
    expect(rejoin).toMatchObject({ recovered: true });
    expect(rejoin.publications).toHaveLength(20);
    await broker.close();
  });

  it('counts publish-id records too: a flood of distinct ids to many rooms stays within the budget, the oldest records going first, past half of it', async () => {
    const broker = budgeted(1_000_000);
    const heldBytes = () => {
      const held = broker as unknown as { historyBytes: number; roomsBytes: number; recordsBytes: number };
      return held.historyBytes + held.roomsBytes + held.recordsBytes;
    };
    const id = (n: number) => `publisher-id-${n}-`.padEnd(128, 'x');
    // What one id claimed and published to 100 rooms holds: a record per room and id, and the claim.
    for (let n = 0; n < 200; n++) {
      expect(await broker.claimPublishId(id(n), 'f')).toBe('first');
      for (let room = 0; room < 100; room++) await broker.publish(`p:${room}`, 'notification', { n }, { dedupKey: id(n), fingerprint: 'f' });
    }
    // 20,000 records of about 400 bytes, and 20,000 messages: several times the budget without it.
    expect(heldBytes()).toBeLessThanOrEqual(1_000_000);
    expect(broker.retained().dedupKeys).toBeLessThan(20_100);
    // The newest ids are still bound, and a retry of their publishes is still a duplicate.
    expect(await broker.claimPublishId(id(199), 'f')).toBe('repeat');
    expect(await broker.publish('p:99', 'notification', { n: 199 }, { dedupKey: id(199), fingerprint: 'f' })).toEqual({ duplicate: true, conflict: false });
    // The oldest went first, and what is held stays within the budget.
    expect(await broker.claimPublishId(id(0), 'g')).toBe('first');
    expect(heldBytes()).toBeLessThanOrEqual(1_000_000);
    await broker.close();
  });

  it('ends a history life that lapsed before anyone followed the room again, as Redis lets its keys expire', async () => {
    jest.useFakeTimers({ now: Date.now(), doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    try {
      // A sweep far off: the lapsed life is still held when the room is followed again.
      const broker = new MemoryBroker({ historySize: 10, historyTtlS: 100 }, new MemoryInboxStore({ inboxSize: 10, inboxTtlMs: 60_000 }, () => undefined));
      await broker.subscribe('chat:empty');
      const joined = (await broker.history('chat:empty')).latestSeq!;
      await broker.unsubscribe('chat:empty');
      jest.setSystemTime(Date.now() + 100_500);
      await broker.subscribe('chat:empty');
      const rejoin = await broker.history('chat:empty', joined);
      expect(rejoin.recovered).toBe(false);
      expect(rejoin.latestSeq).not.toBe(joined);
      await broker.close();
    } finally {
      jest.useRealTimers();
    }
  });

  it('empties the least recently published rooms first, never the one just written', async () => {
    // Room for two 50 KB messages.
    const broker = budgeted(120_000);
    const joined = new Map<string, string>();
    for (const room of ['a', 'b', 'c']) joined.set(room, (await broker.history(room)).latestSeq!);
    const recovered = async (room: string) => (await broker.history(room, joined.get(room))).recovered;
    for (const room of ['a', 'b', 'c']) await broker.publish(room, 'notification', big);
    expect([await recovered('a'), await recovered('b'), await recovered('c')]).toEqual([false, true, true]);
    await broker.publish('b', 'notification', big);
    expect([await recovered('b'), await recovered('c')]).toEqual([true, false]);
    expect(keptBytes(broker)).toBeLessThanOrEqual(120_000);
    await broker.close();
  });
});
