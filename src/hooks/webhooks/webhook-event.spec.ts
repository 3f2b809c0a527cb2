import { activityEvent, decodeQueued, encodeQueued, unreadEvent } from './webhook-event';

describe('webhook queue entries', () => {
  it('survive encoding as they are stored in Redis', () => {
    const atMs = Date.UTC(2026, 0, 1);
    const queued = { id: 'evt_1', queuedAtMs: atMs + 5, event: activityEvent('r:doc:1', true, 'evt_1', atMs) };
    expect(decodeQueued(encodeQueued(queued))).toEqual(queued);
    const check = { user: 'bob', notification: { id: 'n\n1', seq: 's', type: 't' } };
    const unread = { id: unreadEvent(check, atMs).id, queuedAtMs: atMs, event: unreadEvent(check, atMs) };
    expect(decodeQueued(encodeQueued(unread))).toEqual(unread);
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
    expect(unreadEvent(check, 1).id).toBe(unreadEvent(check, 2).id);
    expect(unreadEvent({ ...check, user: 'ann' }, 1).id).not.toBe(unreadEvent(check, 1).id);
  });

  it('gives a notification id used again (after the history window) a reminder of its own', () => {
    const first = { user: 'bob', notification: { id: 'inv-1', seq: '0000000001-0000000000000001', type: 'invoice.due' } };
    const again = { user: 'bob', notification: { ...first.notification, seq: '0000000001-0000000000000009' } };
    expect(unreadEvent(again, 1).id).not.toBe(unreadEvent(first, 1).id);
    expect(unreadEvent(again, 1).id).toBe(unreadEvent(again, 2).id);
  });
});
