import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { InexactNumber, hasInexactNumber, isInexactNumber, parseMarkingInexactNumbers } from './json-inexact-numbers';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('numbers JSON.parse cannot keep as written', () => {
  it.each([
    '9007199254740993',
    '-9007199254740993',
    '1234567890123456789',
    '12345678901234567890.0',
    '1234567890123456789e0',
    '1.234567890123456789e18',
    '9007199254740993e0',
    '9.007199254740993e15',
    '90071992547409930e-1',
    '-0.9007199254740993E+16',
    '12345678901234567890.5',
    '0.12345678901234567890',
    '1e-400', '-5E-500', `0.${'0'.repeat(400)}1`, `-0.${'0'.repeat(400)}25`,
  ])('finds %s', (source) => {
    expect(isInexactNumber(source)).toBe(true);
    expect(hasInexactNumber(bytes(`{"a":[1,{"n":${source}}]}`))).toBe(true);
  });

  it.each([
    '0',
    '-0',
    '9007199254740992',
    '-9007199254740991',
    '9007199254740992e0',
    '90071992547409920e-1',
    '100000000000000000000',
    '1e23',
    '100000000000000000000000',
    '0.1',
    '1.50',
    '15e-1',
    '1e300',
    '1e-300',
    '5e-324',
    // A double as languages write it with 17 digits (C's %.17g) or their own way (Java's 4.9E-324).
    '0.10000000000000001',
    '4.9406564584124654e-324',
    '4.9e-324',
    '0e-400',
    '123456789012345',
    '6.02e23',
    '1.7976931348623157e308',
    `0.${'0'.repeat(400)}`,
  ])('keeps %s', (source) => {
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
    expect(new InexactNumber('9.007199254740993e15').problem).toMatch(/beyond 2\^53/);
    expect(new InexactNumber('0.12345678901234567890').problem).toBe('has more digits than a double keeps: it would arrive as 0.12345678901234568');
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

  it('keeps every spelling of every double as JSON.stringify writes it (property)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), spelling, (value, spell) => {
        const source = spell(JSON.stringify(value));
        expect(isInexactNumber(source)).toBe(false);
        expect(hasInexactNumber(bytes(`[${source}]`))).toBe(false);
      }),
      fuzzParameters(500),
    );
  });

  it('finds a number exactly when its double, written back, has another value and it is an integer or has more than 17 digits, in any spelling (property)', () => {
    fc.assert(
      fc.property(decimal, spelling, ({ digits, power }, spell) => {
        const source = spell(`${digits}e${power}`);
        const value = Number(source);
        fc.pre(Number.isFinite(value));
        const moreThanADouble = isInteger({ digits, power }) || significantDigits(digits) > 17;
        const changed = value === 0 ? digits !== 0n : moreThanADouble && !sameValue({ digits, power }, asDecimal(JSON.stringify(value)));
        expect(isInexactNumber(source)).toBe(changed);
        expect(hasInexactNumber(bytes(`[${source}]`))).toBe(changed);
      }),
      fuzzParameters(1000),
    );
  });
});

/** A decimal as an integer times a power of ten: 12.5 is { digits: 125n, power: -1 }. */
interface Decimal {
  digits: bigint;
  power: number;
}

/** Integers of up to 25 digits (int64 ids and beyond), times powers of ten across a double's range. */
const decimal = fc.record({
  digits: fc.oneof(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }), fc.bigInt({ min: 2n ** 53n - 5n, max: 2n ** 53n + 5n })),
  power: fc.oneof(fc.constant(0), fc.integer({ min: -30, max: 30 }), fc.integer({ min: -350, max: 330 })),
});

/** `-?D(.F)?(e[+-]?X)?` from JavaScript's or JSON's number text, as an exact decimal. */
function asDecimal(text: string): Decimal {
  const [, sign, whole, fraction = '', exponent = '0'] = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)!;
  return { digits: BigInt(`${sign}${whole}${fraction}`), power: Number(exponent) - fraction.length };
}

/** Whether a decimal has no fraction. */
function isInteger({ digits, power }: Decimal): boolean {
  return power >= 0 || digits % 10n ** BigInt(-power) === 0n;
}

/** The significant digits of an integer, trailing zeros left out. */
function significantDigits(digits: bigint): number {
  return (digits < 0n ? -digits : digits).toString().replace(/0+$/, '').length;
}

/** Whether two decimals are one value, compared in integers: the one with the higher power scaled down to the other's. */
function sameValue(a: Decimal, b: Decimal): boolean {
  const [high, low] = a.power >= b.power ? [a, b] : [b, a];
  return high.digits * 10n ** BigInt(high.power - low.power) === low.digits;
}

/**
 * Another way to write the same number as a JSON literal `-?De[+-]?X`: the point moved to any
 * place (leading zeros added where it moves past the digits), zeros appended after a point,
 * and the exponent dropped, upper-cased or given a sign.
 */
const spelling = fc.record({ shift: fc.integer({ min: -25, max: 25 }), trailingZeros: fc.nat(3), exponentStyle: fc.constantFrom('e', 'E', 'e+', 'none') }).map(
  ({ shift, trailingZeros, exponentStyle }) =>
    (text: string): string => {
      const { digits, power } = asDecimal(text);
      const sign = digits < 0n ? '-' : '';
      let written = (digits < 0n ? -digits : digits).toString();
      // Without an exponent the point goes where the power puts it.
      let pointAt = exponentStyle === 'none' ? written.length + power : written.length + shift;
      if (pointAt <= 0) {
        written = '0'.repeat(1 - pointAt) + written;
        pointAt = 1;
      }
      // Zeros appended to the digits multiply them: the exponent gives that back.
      const appended = Math.max(0, pointAt - written.length);
      written += '0'.repeat(appended);
      const exponent = power - appended + (written.length - pointAt);
      const fraction = written.slice(pointAt) + '0'.repeat(trailingZeros);
      const mantissa = `${sign}${written.slice(0, pointAt)}${fraction ? `.${fraction}` : ''}`;
      if (exponentStyle === 'none') return mantissa;
      return `${mantissa}${exponentStyle === 'e+' && exponent >= 0 ? 'e+' : exponentStyle.replace('+', '')}${exponent}`;
    },
);
