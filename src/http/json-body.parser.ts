import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpException } from '@nestjs/common';
import { json } from 'body-parser';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

/** A body limit and a nesting limit, for the routes that share them. */
export interface JsonBodyLimits {
  limitBytes: number;
  maxDepth: number;
}

/**
 * Options for body-parser's JSON parser: at most `limitBytes` (413 above), and nested at most
 * `maxDepth` levels (400 above), checked on the raw bytes before JSON.parse, class-transformer or
 * the validators see the body: they recurse once per level, so a 30,000-deep body would
 * otherwise overflow the stack and answer 500.
 */
export function jsonBodyOptions({ limitBytes, maxDepth }: JsonBodyLimits) {
  return {
    limit: limitBytes,
    type: JSON_MEDIA_TYPES,
    verify(_request: IncomingMessage, _response: unknown, body: Buffer) {
      if (jsonNestingExceeds(body, maxDepth)) throw new JsonTooDeepError(maxDepth);
    },
  };
}

type ParseJson = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Makes `fastify` read request bodies with body-parser's JSON parser, the one Express used, so
 * its answers stay what they were: 413 above the limit, 415 for a charset it does not read, 400
 * for text that is not JSON (or, strict, not an object or array) and for a body nested too deeply.
 * Fastify's own parsers are removed; every content type comes here, and a body that is not JSON
 * is left unread for JsonMediaTypeGuard to refuse with 415 after the token guard (401 first),
 * where Fastify would have refused it before any guard ran.
 *
 * `limitsOf` picks the limits by route: the batch route reads a larger body.
 */
export function useJsonBodyParser(fastify: FastifyInstance, limitsOf: (routeUrl: string | undefined) => JsonBodyLimits): void {
  const parsers = new Map<JsonBodyLimits, ParseJson>();
  const parserFor = (limits: JsonBodyLimits): ParseJson => {
    let parse = parsers.get(limits);
    if (!parse) parsers.set(limits, (parse = json(jsonBodyOptions(limits)) as ParseJson));
    return parse;
  };
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request: FastifyRequest, _payload: IncomingMessage, done: (error: Error | null, body?: unknown) => void) => {
    const raw = request.raw as IncomingMessage & { body?: unknown };
    parserFor(limitsOf(request.routeOptions.url))(raw, undefined as unknown as ServerResponse, (error?: unknown) => {
      if (error !== undefined) done(asHttpException(error) as Error);
      else done(null, raw.body);
    });
  });
}

/** A client error from body-parser (http-errors: `status`, `expose`) as a Nest HttpException; anything else unchanged. */
function asHttpException(error: unknown): unknown {
  const { status, expose, message } = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return error;
  const reason = STATUS_CODES[status] ?? 'Error';
  const text = expose !== false && typeof message === 'string' ? message : reason;
  return new HttpException(HttpException.createBody(text, reason, status), status, { cause: error });
}
