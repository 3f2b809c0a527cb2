import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { HttpException } from '@nestjs/common';
import { json, RequestHandler } from 'express';
import { jsonNestingExceeds } from '../parsing/json-depth';

/** What the JSON parser reads; any other body is refused with 415 (JsonMediaTypeGuard). */
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

/**
 * Express's JSON parser with its refusals (413 too large, 415 unsupported charset, 400 not JSON
 * or too deep) in Nest's `{statusCode, message, error}` shape, as section 6 promises for every
 * error: Nest turns a body-parser error into an HttpException with no `error` field.
 */
export function jsonBodyParser(limitBytes: number, maxDepth: number): RequestHandler {
  const parse = json(jsonBodyOptions(limitBytes, maxDepth));
  return (request, response, next) => parse(request, response, (error?: unknown) => (error === undefined ? next() : next(asHttpException(error))));
}

/** A client error from body-parser (http-errors: `status`, `expose`) as a Nest HttpException; anything else unchanged. */
function asHttpException(error: unknown): unknown {
  const { status, expose, message } = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return error;
  const reason = STATUS_CODES[status] ?? 'Error';
  const text = expose !== false && typeof message === 'string' ? message : reason;
  return new HttpException(HttpException.createBody(text, reason, status), status, { cause: error });
}
