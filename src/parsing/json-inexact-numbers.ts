import { QUOTE, stringEnd } from './json-bytes';

/**
 * Numbers JSON.parse cannot keep as written, which a publish would otherwise store and deliver
 * changed, with a 202: an integer beyond 2^53 that a double rounds (a Snowflake or int64 id:
 * 1234567890123456789 arrived as 1234567890123456800), or a non-zero number that underflows to 0
 * (1e-400, or the same written out as 0.000...1). A number written with a non-zero fraction or
 * an exponent is not rounded here: a double is what such a number means to every reader
 * (6.02e23, 0.1). A number too large for a double (1e999, or 310 digits) is not one either: it
 * parses to Infinity, which is caught after parsing, so it is refused as too large.
 */
export function isInexactNumber(source: string): boolean {
  const value = Number(source);
  if (!Number.isFinite(value)) return false;
  const exponentAt = source.search(/[eE]/);
  const mantissa = exponentAt >= 0 ? source.slice(0, exponentAt) : source;
  if (value === 0) return /[1-9]/.test(mantissa);
  if (exponentAt >= 0) return false;
  const dot = source.indexOf('.');
  if (dot >= 0 && /[1-9]/.test(source.slice(dot + 1))) return false;
  const whole = dot >= 0 ? source.slice(0, dot) : source;
  // Up to 15 digits every integer is exact.
  if (whole.length - (whole.startsWith('-') ? 1 : 0) <= 15) return false;
  return BigInt(whole) !== BigInt(value);
}

/** Whether an inexact number (isInexactNumber) is one that underflowed, rather than an integer a double rounds. */
function underflows(source: string): boolean {
  return Number(source) === 0;
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
    return underflows(this.source)
      ? 'is a number too small for JSON: it would arrive as 0'
      : 'is an integer beyond 2^53, which JSON readers round: send it as a string';
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
