/**
 * What the one-pass JSON byte scanners share (json-depth.ts, json-list-items.ts,
 * json-number-source.ts): the structural bytes, and a key's test. UTF-8 multi-byte sequences
 * never contain ASCII bytes, so scanning bytes for these is exact for any valid JSON text.
 */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/**
 * The index of the quote that closes the JSON string opening at `quoteAt` (past an escaped one),
 * or the text's length when it never closes: the scanners skip a string in one step with it.
 */
export function stringEnd(bytes: Uint8Array, quoteAt: number): number {
  for (let i = quoteAt + 1; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i;
  }
  return bytes.length;
}

export function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Whether the JSON string at [start, end) of `bytes` (quotes included) reads `key`, escapes such as \u0061 included. */
export function isJsonStringOf(bytes: Uint8Array, start: number, end: number, key: string): boolean {
  const raw = bytes.subarray(start, end);
  // Most keys are short and plain: compare lengths before decoding anything.
  if (raw.length !== key.length + 2 && !raw.includes(BACKSLASH)) return false;
  try {
    return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8')) === key;
  } catch {
    return false;
  }
}
