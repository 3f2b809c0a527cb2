import { decodeQueued, entryParts, stamped, unreadEvent } from './webhook-event';

describe('webhook queue entries', () => {
  it('hand the queue script an id, a type and the fields, and come back stamped with its time', () => {
    const atMs = Date.UTC(2026, 0, 1);
    const check = { user: 'bob', notification: { id: 'n\n1', seq: 's', type: 't' } };
    const [id, type, fields] = entryParts(unreadEvent(check));
    // As QUEUE_PUSH writes the entry (hooks-redis.scripts.ts), Redis's time in both places.
    expect(decodeQueued(`${id}\n${atMs}\n${type}\n${atMs}\n${fields}`)).toEqual(stamped(unreadEvent(check), atMs));
  });

  it('reads what the Lua scripts write', () => {
    expect(decodeQueued('evt_x_1\n1767225600000\nuser.offline\n1767225600000\n{"user":"ann"}')).toEqual({
      id: 'evt_x_1',
      queuedAtMs: 1767225600000,
      event: { id: 'evt_x_1', type: 'user.offline', timestamp: '2026-01-01T00:00:00.000Z', user: 'ann' },
    });
    expect(decodeQueued('garbage')).toBeUndefined();
  });

  it('gives one unread notification the same event id every time', () => {
    const check = { user: 'bob', notification: { id: 'n1', seq: 's', type: 't' } };
    expect(unreadEvent(check).id).toBe(unreadEvent(check).id);
    expect(unreadEvent({ ...check, user: 'ann' }).id).not.toBe(unreadEvent(check).id);
  });

  it('gives a notification id used again (after the history window) a reminder of its own', () => {
    const first = { user: 'bob', notification: { id: 'inv-1', seq: '0000000001-0000000000000001', type: 'invoice.due' } };
    const again = { user: 'bob', notification: { ...first.notification, seq: '0000000001-0000000000000009' } };
    expect(unreadEvent(again).id).not.toBe(unreadEvent(first).id);
    expect(unreadEvent(again).id).toBe(unreadEvent(again).id);
  });
});
