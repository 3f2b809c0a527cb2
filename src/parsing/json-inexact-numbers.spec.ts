import fc from 'fast-check';
import { InexactNumber, hasInexactNumber, isInexactNumber, parseMarkingInexactNumbers } from './json-inexact-numbers';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('numbers JSON.parse cannot keep as written', () => {
  it.each(['9007199254740993', '-9007199254740993', '1234567890123456789', '12345678901234567890.0', '1e-400', '-5E-500', `0.${'0'.repeat(400)}1`, `-0.${'0'.repeat(400)}25`])('finds %s', (source) => {
    expect(isInexactNumber(source)).toBe(true);
    expect(hasInexactNumber(bytes(`{"a":[1,{"n":${source}}]}`))).toBe(true);
  });

  it.each(['0', '-0', '9007199254740992', '-9007199254740991', '100000000000000000000', '0.1', '12345678901234567890.5', '1e300', '1e-300', '0e-400', '123456789012345', '6.02e23', '9007199254740993e0', `0.${'0'.repeat(400)}`])('keeps %s', (source) => {
    expect(isInexactNumber(source)).toBe(false);
    expect(hasInexactNumber(bytes(`{"n":${source}}`))).toBe(false);
  });

  it.each([`1${'0'.repeat(309)}`, `-1${'0'.repeat(400)}`, `1${'0'.repeat(309)}.0`, '1e999'])('leaves %s, a number too large for a double, to be refused after parsing, where it reads Infinity', (source) => {
    expect(isInexactNumber(source)).toBe(false);
    expect(hasInexactNumber(bytes(`{"n":${source}}`))).toBe(false);
    expect(Math.abs((parseMarkingInexactNumbers(`{"n":${source}}`) as { n: number }).n)).toBe(Infinity);
  });

  it('says which kind each is', () => {
    expect(new InexactNumber(`0.${'0'.repeat(400)}1`).problem).toMatch(/too small/);
    expect(new InexactNumber('1e-400').problem).toMatch(/too small/);
    expect(new InexactNumber('9007199254740993').problem).toMatch(/beyond 2\^53/);
  });

  it('looks at numbers only, not at digits inside strings or keys', () => {
    expect(hasInexactNumber(bytes('{"9007199254740993":"9007199254740993","s":"a\\"9007199254740993"}'))).toBe(false);
  });

  it('marks each such number where it stands, and leaves the rest as JSON.parse reads them', () => {
    const parsed = parseMarkingInexactNumbers('{"id":1234567890123456789,"list":[1,9007199254740993,"9007199254740993"],"ok":2.5}') as Record<string, unknown>;
    expect(parsed.id).toBeInstanceOf(InexactNumber);
    expect((parsed.id as InexactNumber).source).toBe('1234567890123456789');
    expect((parsed.list as unknown[])[0]).toBe(1);
    expect((parsed.list as unknown[])[1]).toBeInstanceOf(InexactNumber);
    expect((parsed.list as unknown[])[2]).toBe('9007199254740993');
    expect(parsed.ok).toBe(2.5);
  });

  it('agrees with BigInt on every integer: inexact exactly when a double changes it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }), (value) => {
        const source = value.toString();
        expect(isInexactNumber(source)).toBe(BigInt(Number(source)) !== value);
        expect(hasInexactNumber(bytes(`[${source}]`))).toBe(BigInt(Number(source)) !== value);
      }),
    );
  });
});
