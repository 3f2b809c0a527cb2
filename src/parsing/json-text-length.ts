/**
 * An error answer's message (an HTTP 400's, a WebSocket `error` frame's) is cut to this many
 * characters as JSON writes it, `…` added: messages name what the client sent.
 */
export const ERROR_MESSAGE_MAX_CHARS = 500;

/**
 * An error answer's message (an HTTP error body's line, a WebSocket `error` frame's), cut to
 * ERROR_MESSAGE_MAX_CHARS as JSON writes it (boundedJsonText): messages name what the client
 * sent (an unknown field, a path, an event), and a 60,000-character key came back whole in a 400.
 */
export function boundedMessage(message: string): string {
  return boundedJsonText(message, ERROR_MESSAGE_MAX_CHARS);
}

/**
 * `text`, or as much of it as JSON writes in `max` characters and an ellipsis, never splitting a
 * surrogate pair. Counted in characters, a name of control characters or quotes (each written as
 * `\u0001` or `\"`) came back several times longer than the bound.
 */
export function boundedJsonText(text: string, max: number): string {
  // Most messages are short plain text: no escape can make them reach the bound.
  if (text.length * 6 <= max) return text;
  let written = 0;
  for (let index = 0; index < text.length; index++) {
    const pair = isPair(text, index);
    written += pair ? 2 : jsonCharLength(text.charCodeAt(index));
    if (written > max) return `${text.slice(0, index)}…`;
    if (pair) index++;
  }
  return text;
}

/** How many characters JSON.stringify writes for `text`, quotes left out, counted up to `stopAt`. */
export function jsonTextLength(text: string, stopAt: number): number {
  let written = 0;
  for (let index = 0; index < text.length && written < stopAt; index++) {
    const pair = isPair(text, index);
    written += pair ? 2 : jsonCharLength(text.charCodeAt(index));
    if (pair) index++;
  }
  return written;
}

/** The characters JSON.stringify writes for one UTF-16 code unit not part of a pair (a lone surrogate is escaped). */
function jsonCharLength(code: number): number {
  if (code === 0x22 || code === 0x5c || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return 2;
  if (code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return 6;
  return 1;
}

/** Whether the code units at `index` and after it are a surrogate pair. */
function isPair(text: string, index: number): boolean {
  const high = text.charCodeAt(index);
  const low = text.charCodeAt(index + 1);
  return high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
}
