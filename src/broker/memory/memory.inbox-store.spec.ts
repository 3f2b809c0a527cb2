import { Logger } from '@nestjs/common';
import { MemoryInboxStore } from './memory.inbox-store';

const DAY_MS = 86_400_000;
/** Every item's payload is at least this many bytes of JSON, so no more inboxes than budget / this fit. */
const PAYLOAD_BYTES = 1000;

describe('MemoryInboxStore memory budget', () => {
  let store: MemoryInboxStore;
  let written = 0;
  afterEach(() => store.close());

  function create(memoryMaxBytes: number, inboxSize = 200): MemoryInboxStore {
    return (store = new MemoryInboxStore({ inboxSize, inboxTtlMs: DAY_MS, memoryMaxBytes }, () => undefined));
  }

  /** What MemoryBroker hands the store for a notification to `user:<user>`. */
  function write(user: string, { payloadBytes = PAYLOAD_BYTES, atMs = Date.now() } = {}): string {
    const id = `n${++written}`;
    store.add(user, `seq-${String(written).padStart(8, '0')}`, { id, room: `user:${user}`, type: 't', payload: { text: 'x'.repeat(payloadBytes) }, timestamp: new Date(atMs).toISOString() }, atMs);
    return id;
  }

  const idsOf = async (user: string) => (await store.read(user, 100)).items.map((item) => item.id);
  const kept = async (users: string[]) => (await Promise.all(users.map(async (user) => ((await idsOf(user)).length > 0 ? [user] : [])))).flat();

  it('drops the least recently written inboxes first, and never holds more than the budget', async () => {
    create(10_000);
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    for (const user of users) write(user);
    const left = await kept(users);
    expect(left.length).toBeGreaterThan(1);
    expect(left.length).toBeLessThanOrEqual(10_000 / PAYLOAD_BYTES);
    // Exactly the newest ones, each whole.
    expect(left).toEqual(users.slice(users.length - left.length));
    expect(store.users).toBe(left.length);
  });

  it('counts a write as use: an inbox written again outlives those written since it was first', async () => {
    create(30_000);
    write('middle');
    write('old');
    const fillers = Array.from({ length: 10 }, (_, i) => `filler${i}`);
    for (const user of fillers) write(user);
    const again = write('old');
    for (let i = 0; i < 40 && (await idsOf('middle')).length > 0; i++) write(`new${i}`);
    expect(await idsOf('middle')).toEqual([]);
    expect(await idsOf('filler0')).toEqual([]);
    expect(await idsOf('old')).toContain(again);
  });

  it('keeps the inbox just written whole, even when it alone is over the budget', async () => {
    create(1_000);
    const first = [write('big'), write('big'), write('big')];
    expect(await idsOf('big')).toEqual([...first].reverse());
    write('next');
    expect(await idsOf('big')).toEqual([]);
    expect(await idsOf('next')).toHaveLength(1);
  });

  it('no longer counts items trimmed by INBOX_SIZE or expired', async () => {
    create(20_000, 2);
    for (let i = 0; i < 50; i++) write('chatty');
    write('quiet');
    expect(await kept(['chatty', 'quiet'])).toEqual(['chatty', 'quiet']);

    // Fits beside them, but not beside them and the four below: unless its expiry released it.
    write('gone', { payloadBytes: 12_000, atMs: Date.now() - DAY_MS - 1 });
    expect(await idsOf('gone')).toEqual([]);
    const later = ['after0', 'after1', 'after2', 'after3'];
    for (const user of later) write(user);
    expect(await kept(['chatty', 'quiet', ...later])).toEqual(['chatty', 'quiet', ...later]);
  });

  it('says how many inboxes it dropped, in one line for a burst, naming no user and no payload', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      create(10_000);
      for (let i = 0; i < 200; i++) write(`private-user-${i}`, { payloadBytes: PAYLOAD_BYTES });
      expect(warn).toHaveBeenCalledTimes(1);
      const logged = JSON.stringify(warn.mock.calls);
      expect(logged).toContain('INBOX_MEMORY_MAX_MB');
      expect(logged).not.toContain('private-user');
      expect(logged).not.toContain('xxxxxxxx');
      expect(warn.mock.calls[0][0]).toMatchObject({ evictedInboxes: expect.any(Number) });
    } finally {
      warn.mockRestore();
    }
  });
});
