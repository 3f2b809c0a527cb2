import type { IncomingMessage } from 'node:http';
import { jsonNestingExceeds } from '../parsing/json-depth';

/** What the JSON parser reads; any other body is refused with 415 (JsonMediaTypeInterceptor). */
export const JSON_MEDIA_TYPES = ['application/json', '+json'];

/** The error body-parser passes on when `verify` throws: its `status` becomes the answer. */
class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly expose = true;
  constructor(maxDepth: number) {
    super(`The JSON body is nested deeper than ${maxDepth} levels`);
  }
}

/**
 * Options for Express's JSON body parser: at most `limitBytes` (413 above), and nested at most
 * `maxDepth` levels (400 above), checked on the raw bytes before JSON.parse, class-transformer or
 * the validators see the body: they recurse once per level, so a 30,000-deep body would
 * otherwise overflow the stack and answer 500.
 */
export function jsonBodyOptions(limitBytes: number, maxDepth: number) {
  return {
    limit: limitBytes,
    type: JSON_MEDIA_TYPES,
    verify(_request: IncomingMessage, _response: unknown, body: Buffer) {
      if (jsonNestingExceeds(body, maxDepth)) throw new JsonTooDeepError(maxDepth);
    },
  };
}
