import { jest } from '@jest/globals';
import { serverFrame } from './server-frame';
import { ToldPresence } from './told-presence';

const presence = (room: string, user: string, status: 'joined' | 'left') => serverFrame('presence', { room, user, status, timestamp: new Date(0).toISOString() });

describe('ToldPresence', () => {
  it('holds, per room, the users last told joined', () => {
    const told = new ToldPresence();
    told.record('r1', 'ann', presence('r1', 'ann', 'joined'));
    told.record('r1', 'bob', presence('r1', 'bob', 'joined'));
    told.record('r2', 'ann', presence('r2', 'ann', 'joined'));
    told.record('r1', 'ann', presence('r1', 'ann', 'left'));
    expect(told.snapshot()).toEqual([
      ['r1', ['bob']],
      ['r2', ['ann']],
    ]);
  });

  it('lets go of a room once nobody in it is told of, or it is forgotten', () => {
    const told = new ToldPresence();
    told.record('r1', 'ann', presence('r1', 'ann', 'joined'));
    told.record('r1', 'ann', presence('r1', 'ann', 'left'));
    told.record('r2', 'bob', presence('r2', 'bob', 'joined'));
    told.forget('r2');
    told.record('r3', 'cy', presence('r3', 'cy', 'joined'));
    told.forgetUser('r3', 'cy');
    expect(told.rooms).toBe(0);
  });

  it('ignores frames that are not presence, and a snapshot does not change with later frames', () => {
    const told = new ToldPresence();
    told.record('r1', 'ann', serverFrame('inbox', { unread: 1, read: [] } as never));
    told.record('r1', 'ann', 'not json');
    expect(told.rooms).toBe(0);
    told.record('r1', 'ann', presence('r1', 'ann', 'joined'));
    const snapshot = told.snapshot();
    told.record('r1', 'bob', presence('r1', 'bob', 'joined'));
    expect(snapshot).toEqual([['r1', ['ann']]]);
  });

  it('counts in a watch the users told left since the time it is given, unless told joined since', () => {
    const clock = jest.spyOn(Date, 'now');
    try {
      const told = new ToldPresence();
      clock.mockReturnValue(1_000);
      told.record('r1', 'ann', presence('r1', 'ann', 'left'));
      clock.mockReturnValue(2_000);
      told.record('r1', 'bob', presence('r1', 'bob', 'left'));
      told.record('r2', 'cy', presence('r2', 'cy', 'left'));
      told.record('r2', 'cy', presence('r2', 'cy', 'joined'));
      clock.mockReturnValue(3_000);
      told.watchLefts(1_500);
      expect(told.lefts()).toEqual([['r1', ['bob']]]);
      expect(told.toldLeft('r1', 'bob')).toBe(true);
      expect(told.toldLeft('r1', 'ann')).toBe(false);
      // A watch already under way is not widened.
      told.watchLefts(0);
      expect(told.toldLeft('r1', 'ann')).toBe(false);
    } finally {
      clock.mockRestore();
    }
  });

  it('remembers who is told left while watched, until unwatched, and forgets a told-left user told joined again', () => {
    const told = new ToldPresence();
    told.record('r1', 'ann', presence('r1', 'ann', 'left'));
    told.watchLefts();
    told.record('r1', 'bob', presence('r1', 'bob', 'left'));
    told.record('r1', 'cy', presence('r1', 'cy', 'left'));
    told.record('r1', 'cy', presence('r1', 'cy', 'joined'));
    told.record('r2', 'dee', presence('r2', 'dee', 'left'));
    told.forget('r2');
    expect(told.lefts()).toEqual([['r1', ['bob']]]);
    told.unwatchLefts();
    told.record('r1', 'eve', presence('r1', 'eve', 'left'));
    expect(told.lefts()).toEqual([]);
  });
});
