import { CLOSE_BRACE, CLOSE_BRACKET, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE, isJsonStringOf, isJsonWhitespace, stringEnd } from './json-bytes';

/**
 * The size in bytes of each item of one list in a JSON text, as sent: the list that is the value
 * of `key` in the top-level object (the last such key, as JSON.parse keeps the last). A batch
 * publish checks each of its notifications against MAX_PUBLISH_BYTES with it, so an item is
 * measured exactly as the body of a single publish would be: its own whitespace counted, and a
 * number such as `1e20` as the 4 bytes sent, not the 21 that JSON.stringify writes again.
 *
 * One pass over the bytes, like jsonNestingExceeds (json-depth.ts), whose string rules it shares:
 * exact for valid JSON, and harmlessly approximate for invalid text, which JSON.parse refuses.
 * Undefined when the text has no such list.
 */
export function listItemByteLengths(bytes: Uint8Array, key: string): number[] | undefined {
  let depth = 0;
  let topIsObject = false;
  /** The last string closed directly inside the top-level object: the key of the value that follows. */
  let keyStart = -1;
  let keyEnd = -1;
  /** Items of the list being read, while inside it. */
  let items: number[] | undefined;
  let itemStart = -1;
  let itemEnd = -1;
  let found: number[] | undefined;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      const end = stringEnd(bytes, i);
      if (depth === 1) [keyStart, keyEnd] = [i, end + 1];
      if (items && depth === 2) {
        if (itemStart < 0) itemStart = i;
        itemEnd = end + 1;
      }
      i = end;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (items && depth === 2 && itemStart < 0) itemStart = i;
      if (depth === 0) topIsObject = byte === OPEN_BRACE;
      depth++;
      if (depth === 2 && topIsObject && byte === OPEN_BRACKET && keyStart >= 0 && isJsonStringOf(bytes, keyStart, keyEnd, key)) {
        items = [];
        itemStart = -1;
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (items && depth === 1) {
        if (itemStart >= 0) items.push(itemEnd - itemStart);
        found = items;
        items = undefined;
      } else if (items && depth === 2) itemEnd = i + 1;
    } else if (items && depth === 2 && !isJsonWhitespace(byte)) {
      if (byte === COMMA) {
        if (itemStart >= 0) items.push(itemEnd - itemStart);
        itemStart = -1;
      } else {
        // A number, true, false or null.
        if (itemStart < 0) itemStart = i;
        itemEnd = i + 1;
      }
    }
  }
  return found;
}
