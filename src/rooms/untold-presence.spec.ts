import { PresenceStatus } from '@herald/client/protocol';
import { PresenceStore, PresentUsers } from '../broker/presence.store';
import { UntoldPresence } from './untold-presence';

function setUp(present: Record<string, string[]>) {
  let failing = false;
  const asked: Array<[string, readonly string[]]> = [];
  const presence = {
    present: async (room: string, users: readonly string[]): Promise<PresentUsers> => {
      asked.push([room, users]);
      if (failing) throw new Error('Redis is down');
      const there = present[room] ?? [];
      return { users: there.length, present: users.filter((user) => there.includes(user)) };
    },
  } as unknown as PresenceStore;
  const told: string[] = [];
  const untold = new UntoldPresence(presence, (room, user, status: PresenceStatus, users) => {
    told.push(`${room} ${user} ${status} ${users}`);
    return undefined;
  });
  return { untold, told, asked, fail: (value: boolean) => (failing = value) };
}

describe('UntoldPresence', () => {
  it('tells a leave whose user is still absent and a join whose user is still there, with the count including them', async () => {
    const { untold, told, asked } = setUp({ chat: ['ann', 'bob'] });
    untold.remember('chat', 'cleo', 'left');
    untold.remember('chat', 'bob', 'joined');
    await untold.tellWhatHolds();
    expect(told).toEqual(['chat cleo left 3', 'chat bob joined 2']);
    // One read for the room, of those two users only, not of the whole room.
    expect(asked).toEqual([['chat', ['cleo', 'bob']]]);
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

  it('asks about at most 1,000 users a read, so a crowd that left during an outage is several bounded reads', async () => {
    const crowd = Array.from({ length: 2500 }, (_, i) => `u${i}`);
    const { untold, told, asked } = setUp({ chat: ['u7', 'u2400', 'ann'] });
    for (const user of crowd) untold.remember('chat', user, 'joined');
    await untold.tellWhatHolds();
    expect(asked.map(([room, users]) => [room, users.length])).toEqual([
      ['chat', 1000],
      ['chat', 1000],
      ['chat', 500],
    ]);
    expect(told).toEqual(['chat u7 joined 3', 'chat u2400 joined 3']);
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

  it('reads a few rooms at a time, so rooms whose reads hang (a silent Cluster shard) hold the others back no longer than their own reads', async () => {
    let reading = 0;
    let most = 0;
    const hung: Array<() => void> = [];
    const presence = {
      present: async (room: string): Promise<PresentUsers> => {
        most = Math.max(most, ++reading);
        // Rooms on the silent shard answer only when it does (here: when the test says).
        if (room.startsWith('silent')) await new Promise<void>((resolve) => hung.push(resolve));
        reading--;
        return { users: 0, present: [] };
      },
    } as unknown as PresenceStore;
    const told: string[] = [];
    const untold = new UntoldPresence(presence, (room, user, status) => void told.push(`${room} ${user} ${status}`));
    for (let i = 0; i < 3; i++) untold.remember(`silent:${i}`, 'ann', 'left');
    for (let i = 0; i < 20; i++) untold.remember(`served:${i}`, 'ann', 'left');
    const telling = untold.tellWhatHolds();
    // Every served room is told while the silent shard's three reads still hang.
    await new Promise((resolve) => setImmediate(resolve));
    expect([...told].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `served:${i} ann left`).sort());
    expect(hung).toHaveLength(3);
    expect(most).toBeLessThanOrEqual(8);
    for (const answer of hung) answer();
    await telling;
    expect(told).toHaveLength(23);
  });
});
