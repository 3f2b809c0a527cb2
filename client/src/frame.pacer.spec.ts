import { jest } from '@jest/globals';
import { FramePacer, PACER_LIMITED_PAUSE_MS, PACER_MIN_RATE_PER_S } from './frame.pacer.ts';

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

  it('drops what waits when the connection goes, and starts the new one at once with the slow-start budget, not the burst it grew to', async () => {
    const pacer = new FramePacer(6, 10, 2);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 4, sent);
    for (let reply = 0; reply < 4; reply += 1) pacer.replied(false);
    pacer.reset();
    scheduleMany(pacer, 8, sent, 10);
    // The old connection spent its budget a moment ago; the new one has its own, of 2.
    expect(sent.map(([i]) => i)).toEqual([0, 1, 10, 11]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent.slice(4)).toEqual([
      [12, 100],
      [13, 200],
      [14, 300],
      [15, 400],
      [16, 500],
      [17, 600],
    ]);
  });

  it('does not hold a new connection to the pause a rate_limited reply began on the old one, and keeps the halved burst', () => {
    const pacer = new FramePacer(4, 10, 4);
    const sent: Array<[number, number]> = [];
    pacer.replied(true);
    pacer.reset();
    scheduleMany(pacer, 3, sent);
    expect(sent).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it('starts a connection with a small budget, and lets the burst grow with each reply while requests wait, up to its most', async () => {
    const pacer = new FramePacer(6, 10, 2);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 12, sent);
    expect(sent).toHaveLength(2);
    for (let reply = 0; reply < 10; reply += 1) pacer.replied(false);
    // A while later the bucket is full again: 6, not the 2 it started with nor the 12 replies.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(sent).toHaveLength(12);
    scheduleMany(pacer, 10, sent, 100);
    expect(sent).toHaveLength(12 + 6);
  });

  it('does not grow the burst on replies while nothing waited: they say nothing of how much the server takes at once', async () => {
    const pacer = new FramePacer(30, 15, 4);
    const sent: Array<[number, number]> = [];
    // A client in a room or two: a request now and then, each answered.
    for (let request = 0; request < 20; request += 1) {
      scheduleMany(pacer, 1, sent, request);
      pacer.replied(false);
      await jest.advanceTimersByTimeAsync(1_000);
    }
    // Then a batch: the slow-start budget at once, not 24 frames, then 15 a second.
    scheduleMany(pacer, 10, sent, 100);
    expect(sent.filter(([i]) => i >= 100)).toHaveLength(4);
  });

  it('after rate_limited, sends nothing for PACER_LIMITED_PAUSE_MS, then at half the rate and burst, for good', async () => {
    const pacer = new FramePacer(8, 10, 8);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 8, sent);
    pacer.replied(true);
    scheduleMany(pacer, 6, sent, 100);
    await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS - 1);
    expect(sent).toHaveLength(8);
    await jest.advanceTimersByTimeAsync(1);
    // The pause refilled half a burst's worth at the halved rate (5/s x 1.1 s, capped at 4)...
    expect(sent).toHaveLength(8 + 4);
    // ...then one every 200 ms.
    await jest.advanceTimersByTimeAsync(400);
    expect(sent.slice(12).map(([, atMs]) => atMs)).toEqual([PACER_LIMITED_PAUSE_MS + 200, PACER_LIMITED_PAUSE_MS + 400]);
    // Replies let the burst grow back to the halved most, not further.
    for (let reply = 0; reply < 10; reply += 1) pacer.replied(false);
    await jest.advanceTimersByTimeAsync(10_000);
    scheduleMany(pacer, 10, sent, 200);
    expect(sent.filter(([i]) => i >= 200)).toHaveLength(4);
  });

  it('halves once for the refusals of one burst (those read during the pause were sent before it), pausing again from the last', async () => {
    const pacer = new FramePacer(8, 10, 8);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 8, sent);
    pacer.replied(true);
    await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS - 1);
    pacer.replied(true);
    pacer.replied(true);
    scheduleMany(pacer, 6, sent, 100);
    // The server forgives drops a second after the last one, so the pause counts from there...
    const resumedAtMs = 2 * PACER_LIMITED_PAUSE_MS - 1;
    await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS - 1);
    expect(sent).toHaveLength(8);
    await jest.advanceTimersByTimeAsync(1);
    // ...then half the burst (4) and half the rate (5/s), as after a single refusal, not an eighth.
    expect(sent.slice(8).map(([i]) => i)).toEqual([100, 101, 102, 103]);
    await jest.advanceTimersByTimeAsync(400);
    expect(sent.slice(12).map(([, atMs]) => atMs)).toEqual([resumedAtMs + 200, resumedAtMs + 400]);
    // A refusal after the pause is of a frame sent at the new pace: it halves again (a burst of
    // 2, one frame every 400 ms).
    pacer.replied(true);
    scheduleMany(pacer, 3, sent, 200);
    await jest.advanceTimersByTimeAsync(2 * PACER_LIMITED_PAUSE_MS);
    const againAtMs = resumedAtMs + 400 + PACER_LIMITED_PAUSE_MS;
    expect(sent.filter(([i]) => i >= 200).map(([, atMs]) => atMs)).toEqual([againAtMs, againAtMs, againAtMs + 400]);
  });

  it('after rate_limited, sends no more after the pause than the pause refilled, as the server had nothing left', async () => {
    const pacer = new FramePacer(20, 2, 20);
    const sent: Array<[number, number]> = [];
    // 18 of the 20 left, as far as this client could tell.
    scheduleMany(pacer, 2, sent);
    pacer.replied(true);
    scheduleMany(pacer, 5, sent, 100);
    // 1.1 s at the halved rate of one a second refilled one frame and a tenth.
    await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS + 2_000);
    expect(sent.slice(2)).toEqual([
      [100, PACER_LIMITED_PAUSE_MS],
      [101, 2_000],
      [102, 3_000],
    ]);
  });

  it('slows down below one frame a second against the lowest limit, leaving the pong to each heartbeat a token, and no further', async () => {
    const pacer = new FramePacer(1, 1, 1);
    const sent: Array<[number, number]> = [];
    for (let limited = 0; limited < 3; limited += 1) pacer.replied(true);
    scheduleMany(pacer, 3, sent);
    await jest.advanceTimersByTimeAsync(PACER_LIMITED_PAUSE_MS + 5_000);
    const gaps = sent.slice(1).map(([, atMs], index) => atMs - sent[index][1]);
    expect(gaps).toEqual([1000 / PACER_MIN_RATE_PER_S, 1000 / PACER_MIN_RATE_PER_S]);
  });

  it('sends an urgent frame (a token refresh) ahead of what waits', async () => {
    const pacer = new FramePacer(1, 10, 1);
    const sent: Array<[number, number]> = [];
    scheduleMany(pacer, 3, sent);
    pacer.schedule(() => {
      sent.push([99, Date.now() - Date.parse('2026-01-01T00:00:00Z')]);
      return true;
    }, true);
    await jest.advanceTimersByTimeAsync(300);
    expect(sent.map(([i]) => i)).toEqual([0, 99, 1, 2]);
  });
});
