import { PresenceStatus } from '@herald/client/protocol';
import { PresenceSnapshot, PresenceStore } from '../broker/presence.store';
import { UntoldPresence } from './untold-presence';

function setUp(present: Record<string, string[]>) {
  let failing = false;
  const presence = {
    snapshot: async (room: string): Promise<PresenceSnapshot> => {
      if (failing) throw new Error('Redis is down');
      return { users: present[room] ?? [], connections: (present[room] ?? []).length };
    },
  } as unknown as PresenceStore;
  const told: string[] = [];
  const untold = new UntoldPresence(presence, (room, user, status: PresenceStatus, users) => {
    told.push(`${room} ${user} ${status} ${users}`);
    return undefined;
  });
  return { untold, told, fail: (value: boolean) => (failing = value) };
}

describe('UntoldPresence', () => {
  it('tells a leave whose user is still absent and a join whose user is still there, with the count including them', async () => {
    const { untold, told } = setUp({ chat: ['ann', 'bob'] });
    untold.remember('chat', 'cleo', 'left');
    untold.remember('chat', 'bob', 'joined');
    await untold.tellWhatHolds();
    expect(told).toEqual(['chat cleo left 3', 'chat bob joined 2']);
    await untold.tellWhatHolds();
    expect(told).toHaveLength(2);
  });

  it('tells nothing that no longer holds, and only the latest change of a user', async () => {
    const { untold, told } = setUp({ chat: ['ann'] });
    untold.remember('chat', 'ann', 'left'); // ann came back meanwhile
    untold.remember('chat', 'dora', 'joined');
    untold.remember('chat', 'dora', 'left'); // then left again: one `left`
    await untold.tellWhatHolds();
    expect(told).toEqual(['chat dora left 2']);
  });

  it('keeps what it could not read for the next time', async () => {
    const { untold, told, fail } = setUp({ chat: [] });
    untold.remember('chat', 'eve', 'left');
    fail(true);
    await untold.tellWhatHolds();
    expect(told).toEqual([]);
    fail(false);
    await untold.tellWhatHolds();
    expect(told).toEqual(['chat eve left 1']);
  });

  it('tells only joins when asked to, keeping the leaves for later', async () => {
    const { untold, told } = setUp({ chat: ['bob'] });
    untold.remember('chat', 'cleo', 'left');
    untold.remember('chat', 'bob', 'joined');
    await untold.tellWhatHolds('joined');
    expect(told).toEqual(['chat bob joined 1']);
    await untold.tellWhatHolds();
    expect(told).toEqual(['chat bob joined 1', 'chat cleo left 2']);
  });
});
