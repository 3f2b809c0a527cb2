import { jest } from '@jest/globals';
import { FramePacer } from './frame.pacer.ts';

describe('FramePacer', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  /** Schedules `count` sends that record their number and the time they ran. */
  function scheduleMany(pacer: FramePacer, count: number, sent: Array<[number, number]>, from = 0): void {
    for (let i = from; i < from + count; i += 1) {
      pacer.schedule(() => {
        sent.push([i, Date.now() - Date.parse('2026-01-01T00:00:00Z')]);
        return true;
      });
    }
  }

  it('sends a burst at once, then the rest at the steady rate, in order', async () => {
    const pacer = new FramePacer(3, 10);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 6, sent);
    expect(sent).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    await jest.advanceTimersByTimeAsync(300);
    expect(sent.slice(3)).toEqual([
      [3, 100],
      [4, 200],
      [5, 300],
    ]);
  });

  it('charges nothing for a send that wrote nothing', () => {
    const pacer = new FramePacer(2, 10);
    const sent: Array<[number, number]> = [];
    pacer.schedule(() => false);
    scheduleMany(pacer, 2, sent);
    expect(sent.map(([i]) => i)).toEqual([0, 1]);
  });

  it('drops what waits when the connection goes, and starts a new one with a full burst', async () => {
    const pacer = new FramePacer(2, 10);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 4, sent);
    pacer.reset();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent.map(([i]) => i)).toEqual([0, 1]);
    scheduleMany(pacer, 2, sent, 10);
    expect(sent.map(([i]) => i)).toEqual([0, 1, 10, 11]);
  });
});
