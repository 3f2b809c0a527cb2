import { sliceGapMs } from './slice-gap';

describe('sliceGapMs', () => {
  it('pauses between no slices of a single-slice round', () => {
    expect(sliceGapMs(0, 10_000)).toBe(0);
    expect(sliceGapMs(1, 10_000)).toBe(0);
  });

  it('spreads the slices over the time given, in whole milliseconds, and at most 100 ms apart', () => {
    expect(sliceGapMs(10, 200)).toBe(20);
    expect(sliceGapMs(3, 100)).toBe(33);
    expect(sliceGapMs(20, 100_000)).toBe(100);
  });
});
