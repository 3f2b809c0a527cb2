import fc from 'fast-check';
import { SEQ_PATTERN, formatSeq, newEpoch, parseSeq } from './seq';

describe('SEQ_PATTERN', () => {
  it('matches every seq this service writes, at any time and position', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 36 ** 9 - 1 }), fc.integer({ min: 0, max: 10 ** 12 - 1 }), (nowMs, position) => {
        const seq = formatSeq(newEpoch(nowMs), position);
        expect(seq).toMatch(SEQ_PATTERN);
        expect(parseSeq(seq)?.position).toBe(position);
      }),
    );
  });

  it.each(['E-2', '000000000abc-2', 'zz-000000000001', 'ZZZZZZZZZZZZ-000000000001', '000000000abc-00000000000a', '000000000abc000000000001'])('refuses %s, which would sort wrongly as a string', (seq) => {
    expect(seq).not.toMatch(SEQ_PATTERN);
  });
});
