import { CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE, stringEnd } from './json-bytes';

/**
 * How deeply a JSON text nests objects and arrays, measured on its bytes before anything parses
 * or transforms it. JSON.parse copes with deep nesting, but what runs after it does not:
 * class-transformer and class-validator recurse once per level, so a 64 KB frame of 32,000
 * nested arrays overflows the stack in every request that carries it (and logs the stack).
 *
 * One pass over the bytes with no recursion and no allocation. Brackets inside strings do not
 * count; UTF-8 multi-byte sequences never contain ASCII bytes, so a byte scan is exact for any
 * valid JSON text (and harmlessly approximate for invalid text, which JSON.parse then refuses).
 * True when the JSON text opens more than `maxDepth` objects/arrays inside one another.
 */
export function jsonNestingExceeds(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      i = stringEnd(bytes, i);
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
