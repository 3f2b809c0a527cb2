import type { Duplex } from 'node:stream';
import { broadcastGoesAtOnce, corkForThisTurn, flushCorked } from './turn-cork';

describe('broadcastGoesAtOnce', () => {
  const checkPhase = () => new Promise((resolve) => setImmediate(resolve));
  let nowMs = 1_000_000;
  beforeEach(() => jest.spyOn(performance, 'now').mockImplementation(() => nowMs));
  afterEach(() => jest.restoreAllMocks());

  it("lets the first broadcast of a turn after a pause go at once, and not the turn's others", async () => {
    await checkPhase();
    nowMs += 1000;
    expect(broadcastGoesAtOnce()).toBe(true);
    expect(broadcastGoesAtOnce()).toBe(false);
    expect(broadcastGoesAtOnce()).toBe(false);
    await checkPhase();
  });

  it('corks every broadcast of a turn that starts right after one that broadcast, as a busy pod does', async () => {
    await checkPhase();
    nowMs += 1000;
    expect(broadcastGoesAtOnce()).toBe(true);
    await checkPhase();
    // Back to back: the next turn broadcasts a fraction of a millisecond after that one ended.
    nowMs += 0.2;
    expect(broadcastGoesAtOnce()).toBe(false);
    await checkPhase();
    nowMs += 0.5;
    expect(broadcastGoesAtOnce()).toBe(false);
    await checkPhase();
    // A pause: the pod had nothing to broadcast for a while.
    nowMs += 5;
    expect(broadcastGoesAtOnce()).toBe(true);
    await checkPhase();
  });

  it('measures the pause from the end of the last turn that broadcast, not of turns that only corked a reply', async () => {
    await checkPhase();
    nowMs += 1000;
    expect(broadcastGoesAtOnce()).toBe(true);
    await checkPhase();
    nowMs += 5;
    const stream = { writableCorked: 0, cork: () => void stream.writableCorked++, uncork: () => void stream.writableCorked-- };
    corkForThisTurn(stream as unknown as Duplex);
    await checkPhase();
    expect(stream.writableCorked).toBe(0);
    nowMs += 0.2;
    expect(broadcastGoesAtOnce()).toBe(true);
    await checkPhase();
  });
});

describe('flushCorked', () => {
  const stream = () => {
    const state = { writableCorked: 0, cork: () => void state.writableCorked++, uncork: () => void state.writableCorked-- };
    return state;
  };

  it("sends what the sockets corked this turn hold now, and leaves nothing for the turn's end", async () => {
    const [a, b] = [stream(), stream()];
    corkForThisTurn(a as unknown as Duplex);
    corkForThisTurn(b as unknown as Duplex);
    flushCorked();
    expect([a.writableCorked, b.writableCorked]).toEqual([0, 0]);
    // Corked again later in the turn: uncorked once, at its end.
    corkForThisTurn(a as unknown as Duplex);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.writableCorked).toBe(0);
  });
});
