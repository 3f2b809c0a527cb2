import { CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE, isJsonStringOf, isJsonWhitespace, stringEnd } from './json-bytes';

/**
 * The source text of the number that is the value of `key` in a JSON text's top-level object
 * (the last such key, as JSON.parse keeps the last), or undefined when that value is no number.
 * A frame's `id` is echoed as written when a double would change it (section 2): `1e999`,
 * `-0`, a 30-digit integer.
 */
export function topLevelNumberSource(bytes: Uint8Array, key: string): string | undefined {
  const source = topLevelScalarSource(bytes, key);
  return source === undefined || source.startsWith('"') ? undefined : source;
}

/**
 * The source text of the string (quotes included), number or literal that is the value of `key`
 * in a JSON text's top-level object (the last such key, as JSON.parse keeps the last), or
 * undefined when that value is an object or a list, or there is none.
 *
 * One pass over the bytes, with no recursion whatever the nesting (like jsonNestingExceeds in
 * json-depth.ts, whose string rules it shares): a second JSON.parse with a reviver recursed once
 * per level, and a frame 2,500 levels deep overflowed the stack. Exact for valid JSON; for a text
 * refused before it is parsed (parseFrame), what it finds is read with JSON.parse, which refuses
 * what is not a value.
 */
export function topLevelScalarSource(bytes: Uint8Array, key: string): string | undefined {
  let depth = 0;
  let keyStart = -1;
  let keyEnd = -1;
  /** Between a top-level key's colon and the end of its value. */
  let inValue = false;
  /** The value is `key`'s and has looked like a scalar so far. */
  let capturing = false;
  let valueStart = -1;
  let valueEnd = -1;
  let found: string | undefined;
  const finishValue = () => {
    if (capturing && valueStart >= 0) found = Buffer.from(bytes.buffer, bytes.byteOffset + valueStart, valueEnd - valueStart).toString('utf8');
    inValue = capturing = false;
  };
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      const end = stringEnd(bytes, i);
      if (depth === 1 && !inValue) [keyStart, keyEnd] = [i, end + 1];
      if (depth === 1 && inValue && capturing) {
        // A string value: its source, quotes included, unless something came before it (not JSON).
        if (valueStart < 0) [valueStart, valueEnd] = [i, Math.min(end + 1, bytes.length)];
        else capturing = false;
      }
      i = end;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (depth === 1 && inValue) capturing = false; // an object or a list
      depth++;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (depth === 1) finishValue();
      depth--;
    } else if (depth === 1) {
      if (byte === COLON) {
        inValue = true;
        capturing = keyStart >= 0 && isJsonStringOf(bytes, keyStart, keyEnd, key);
        valueStart = -1;
      } else if (byte === COMMA) finishValue();
      else if (inValue && !isJsonWhitespace(byte)) {
        if (valueStart < 0) valueStart = i;
        valueEnd = i + 1;
      }
    }
  }
  return found;
}
