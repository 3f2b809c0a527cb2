import fc from 'fast-check';
import { StallLedger } from './stall-ledger';

describe('StallLedger', () => {
  it('sums the lateness of the sweeps that ran after a moment, and records nothing for one on time', () => {
    const ledger = new StallLedger();
    ledger.record(1_000, 0);
    ledger.record(2_000, 300);
    ledger.record(12_000, 8_000);
    ledger.record(13_000, 50);
    expect(ledger.size).toBe(3);
    expect(ledger.lostSince(0)).toBe(8_350);
    expect(ledger.lostSince(2_000)).toBe(8_050);
    expect(ledger.lostSince(12_500)).toBe(50);
    expect(ledger.lostSince(13_000)).toBe(0);
  });

  it('forgets what ended before a moment, and keeps at most its capacity, the newest', () => {
    const ledger = new StallLedger(3);
    for (let at = 1; at <= 5; at++) ledger.record(at * 1_000, at);
    expect(ledger.size).toBe(3);
    expect(ledger.lostSince(0)).toBe(3 + 4 + 5);
    ledger.forgetBefore(4_000);
    expect(ledger.lostSince(0)).toBe(4 + 5);
    ledger.forgetBefore(10_000);
    expect(ledger.size).toBe(0);
  });

  it('answers as a sum over every recorded sweep after the moment would', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 0, max: 5_000 })), { maxLength: 50 }), fc.integer({ min: 0, max: 60_000 }), (sweeps, since) => {
        const ledger = new StallLedger(100);
        let at = 0;
        const recorded: Array<[number, number]> = [];
        for (const [gap, late] of sweeps) {
          at += gap + late;
          ledger.record(at, late);
          if (late > 0) recorded.push([at, late]);
        }
        return ledger.lostSince(since) === recorded.filter(([end]) => end > since).reduce((sum, [, late]) => sum + late, 0);
      }),
    );
  });
});
