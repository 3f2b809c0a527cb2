import { QUOTE, stringEnd } from './json-bytes';
import { exactDecimal, isExactInteger } from './json-number-value';

/**
 * A number JSON.parse cannot keep as written, which a publish would otherwise store and deliver
 * changed, with a 202. Refused:
 * - an integer beyond 2^53 that a double rounds, in any spelling (a Snowflake or int64 id:
 *   1234567890123456789, 1234567890123456789e0 or 1.234567890123456789e18 all arrived as
 *   1234567890123456800);
 * - a non-zero number that underflows to 0 (1e-400, or the same written out as 0.000...1);
 * - a fraction with more significant digits than the 17 that name any double, whose double
 *   has another value (0.12345678901234567890 would arrive as 0.12345678901234568).
 * A fraction of 17 digits or fewer is the publisher's double as its language wrote it (C's
 * `%.17g` writes 0.1 as 0.10000000000000001, Java 5e-324 as 4.9E-324): it arrives as that same
 * double, `1.50`, `15e-1` and `1.5` all as `1.5`. A number too large for a double (1e999, or 310
 * digits) is not one: it parses to Infinity, which is caught after parsing, so it is refused as
 * too large.
 */
export function isInexactNumber(source: string): boolean {
  const value = Number(source);
  // Most numbers are sent as JavaScript, Python and Go write them: the double's own shortest form.
  if (!Number.isFinite(value) || String(value) === source) return false;
  const sent = exactDecimal(source);
  // Not a JSON number (`5.`): the parse that follows refuses the text.
  if (sent === undefined) return false;
  if (value === 0) return sent !== '0';
  if (!isExactInteger(sent) && significantDigits(sent) <= DOUBLE_DIGITS) return false;
  return sent !== exactDecimal(String(value));
}

/** Significant digits that tell any two doubles apart (DBL_DECIMAL_DIG). */
const DOUBLE_DIGITS = 17;

/** The significant digits of an exactDecimal (`1234e-2`: 4). */
function significantDigits(decimal: string): number {
  return decimal.indexOf('e') - (decimal.startsWith('-') ? 1 : 0);
}

/**
 * Whether a JSON text holds an inexact number (isInexactNumber): one pass over the bytes, strings
 * skipped, each number's source tested only when it is long or has an exponent. Exact for valid
 * JSON; asked of every body before it is parsed, so that only bodies that hold one are parsed
 * with markers (parseMarkingInexactNumbers).
 */
export function hasInexactNumber(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      i = stringEnd(bytes, i);
    } else if (byte === MINUS || isDigit(byte)) {
      const start = i;
      let exponent = false;
      while (i + 1 < bytes.length && isNumberByte(bytes[i + 1])) {
        i++;
        if (bytes[i] === LOWER_E || bytes[i] === UPPER_E) exponent = true;
      }
      // Up to 15 significant digits a double keeps every decimal of its normal range (DBL_DIG),
      // and a number without an exponent needs 15 characters to leave that range or exceed them.
      if ((exponent || i - start >= 15) && isInexactNumber(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start + 1).toString('latin1'))) return true;
    }
  }
  return false;
}

/** An inexact number in a parsed body, in place of the double JSON.parse made of it: validators refuse it, naming where it is. */
export class InexactNumber {
  constructor(
    /** The number as sent. */
    readonly source: string,
  ) {}

  /** What a 400 says of it after the field's path. */
  get problem(): string {
    const arrives = Number(this.source);
    if (arrives === 0) return 'is a number too small for JSON: it would arrive as 0';
    if (isExactInteger(exactDecimal(this.source) ?? '')) return 'is an integer beyond 2^53, which JSON readers round: send it as a string';
    return `has more digits than a double keeps: it would arrive as ${JSON.stringify(arrives)}`;
  }
}

/**
 * JSON.parse, with each inexact number replaced by an InexactNumber. The reviver reads each
 * number's source text (JSON.parse source text access, V8 11.4+); the text's depth is bounded
 * before any parse (jsonNestingExceeds), as the reviver recurses once per level.
 */
export function parseMarkingInexactNumbers(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined && isInexactNumber(context.source) ? new InexactNumber(context.source) : value,
  );
}

const MINUS = 0x2d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

/** Digits, sign, point and exponent: what a JSON number is made of. */
function isNumberByte(byte: number): boolean {
  return isDigit(byte) || byte === MINUS || byte === 0x2b || byte === 0x2e || byte === LOWER_E || byte === UPPER_E;
}
