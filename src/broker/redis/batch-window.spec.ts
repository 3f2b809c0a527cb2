import { BatchWindow } from './batch-window';

describe('BatchWindow', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs every flush scheduled within one window together, in order, once the window ends', () => {
    const window = new BatchWindow(5);
    const ran: string[] = [];
    window.schedule(() => ran.push('anchors'));
    jest.advanceTimersByTime(3);
    window.schedule(() => ran.push('presence'));
    jest.advanceTimersByTime(1);
    expect(ran).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(ran).toEqual(['anchors', 'presence']);
    // The next flush opens a window of its own.
    window.schedule(() => ran.push('later'));
    jest.advanceTimersByTime(5);
    expect(ran).toEqual(['anchors', 'presence', 'later']);
  });

  it('with 0, runs the flushes of one event-loop turn together after it', () => {
    const window = new BatchWindow(0);
    const ran: string[] = [];
    window.schedule(() => ran.push('one'));
    window.schedule(() => ran.push('two'));
    expect(ran).toEqual([]);
    jest.runOnlyPendingTimers();
    expect(ran).toEqual(['one', 'two']);
  });

  it('runs what waits at once when flushed, and leaves no timer behind', () => {
    const window = new BatchWindow(50);
    const ran: string[] = [];
    window.schedule(() => ran.push('waiting'));
    window.flushNow();
    expect(ran).toEqual(['waiting']);
    expect(jest.getTimerCount()).toBe(0);
  });
});
