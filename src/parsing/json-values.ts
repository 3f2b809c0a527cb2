import { CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE, isJsonWhitespace, stringEnd } from './json-bytes';

/** What a scanned level is: an object, a list with no element yet, or a list with one. */
const OBJECT = 0;
const EMPTY_LIST = 1;
const LIST = 2;

/**
 * The kind of each level open in the text being scanned (OBJECT, EMPTY_LIST, LIST), level 1 at
 * index 1: one array for every call, which runs to its end in one go, not one per frame.
 */
let levelKinds = new Uint8Array(33);

/**
 * What jsonShapeOf found first: more than `maxValues` values, or nesting deeper than `maxDepth`
 * levels (the top-level value is level 1, as jsonNestingExceeds counts); `fits` when neither.
 */
export type JsonShape = 'fits' | 'too many values' | 'too deep';

/**
 * Whether a JSON text holds more than `maxValues` values inside its top-level value (every
 * member of an object and every element of a list counts, at any depth), or nests deeper than
 * `maxDepth`, whichever its bytes show first. Read before JSON.parse, whose cost grows faster
 * than the text with the members of one object (a 49 KB frame of 5,000 little members took about
 * 1 ms to parse and 4 ms of the pod in all, where a 49 KB string takes 0.03): a frame, whose
 * events have a few fields of strings, is refused without being parsed when it holds more
 * (FRAME_VALUES_MAX); and its depth, known from the same pass, needs no second one.
 *
 * One pass over the bytes with no recursion, like jsonNestingExceeds (json-depth.ts), whose
 * string rules it shares: exact for valid JSON and harmlessly approximate for invalid text.
 */
export function jsonShapeOf(bytes: Uint8Array, maxValues: number, maxDepth: number): JsonShape {
  if (levelKinds.length <= maxDepth) levelKinds = new Uint8Array(maxDepth + 1);
  const levels = levelKinds;
  let depth = 0;
  let values = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (isJsonWhitespace(byte)) continue;
    // The first element of a list that had none.
    if (depth > 0 && levels[depth] === EMPTY_LIST && byte !== CLOSE_BRACKET) {
      levels[depth] = LIST;
      if (++values > maxValues) return 'too many values';
    }
    if (byte === QUOTE) {
      i = stringEnd(bytes, i);
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return 'too deep';
      levels[depth] = byte === OPEN_BRACE ? OBJECT : EMPTY_LIST;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    } else if ((byte === COLON && levels[depth] === OBJECT) || (byte === COMMA && levels[depth] === LIST)) {
      if (depth > 0 && ++values > maxValues) return 'too many values';
    }
  }
  return 'fits';
}
