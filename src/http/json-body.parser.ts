import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { BadRequestException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import typeis from 'type-is';
import { jsonNestingExceeds } from '../parsing/json-depth';
import { hasInexactNumber, parseMarkingInexactNumbers } from '../parsing/json-inexact-numbers';
import { listItemByteLengths } from '../parsing/json-list-items';
import { nextTurnInLine } from '../event-loop/turn-budget';
import { decodeContent } from './content-coding';

/** What the JSON parser reads; any other body is refused with 415 (JsonMediaTypeGuard). */
export const JSON_MEDIA_TYPES = ['application/json', '+json'];

/** The 415 for a body whose Content-Type is not a JSON media type (or not a media type at all). */
export const NOT_JSON_MEDIA_TYPE = 'The body must be JSON, sent with Content-Type: application/json';

/**
 * `application/json` with no parameters, as Fastify writes the header it matches parsers
 * against (lower case, trimmed): what services send, and always UTF-8.
 */
const PLAIN_JSON = /^application\/json$/;

/**
 * What every JSON route takes, said when a body is something else: a list (`[{...}]`, whose
 * items the validators then called `property 0`) or a bare value.
 */
const NOT_AN_OBJECT = 'The body must be a JSON object';

/** The first character after JSON's own whitespace. */
const FIRST_JSON_CHAR = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

/** A body limit and a nesting limit, for the routes that share them. */
export interface JsonBodyLimits {
  limitBytes: number;
  maxDepth: number;
  /**
   * A top-level key whose list's items are each measured as sent (listItemBytesOf): a batch
   * checks each notification against a single publish's limit on its own bytes.
   */
  measuredList?: string;
}

/** What measuredList found in each request's body, until the request is gone. */
const measuredLists = new WeakMap<IncomingMessage, readonly number[]>();

/**
 * The size in bytes of each item of the route's measured list as the client sent it (inflated),
 * in order; undefined when the route measures none or the body has no such list.
 */
export function listItemBytesOf(request: IncomingMessage): readonly number[] | undefined {
  return measuredLists.get(request);
}

function measureList(request: IncomingMessage, body: Buffer, limits: JsonBodyLimits): void {
  if (limits.measuredList === undefined) return;
  const lengths = listItemByteLengths(body, limits.measuredList);
  if (lengths) measuredLists.set(request, lengths);
}

/** The answer to a body nested deeper than the route allows. */
function tooDeep(maxDepth: number): BadRequestException {
  return new BadRequestException(`The JSON body is nested deeper than ${maxDepth} levels`);
}

/**
 * The answer to a body that is not the UTF-8 it says it is. Decoded anyway,
 * each bad byte would become U+FFFD, stored and delivered as if the publisher had sent it: a
 * notification quietly changed, where a WebSocket text frame like it is refused (bad_request).
 */
const NOT_UTF8 = 'The body is not valid UTF-8';

/**
 * Makes `fastify` read JSON request bodies within `limitsOf(route)`: at most `limitBytes` (413
 * above), nested at most `maxDepth` levels (400 above), checked on the raw bytes before
 * JSON.parse, class-transformer or the validators see the body: they recurse once per level, so
 * a 30,000-deep body would otherwise overflow the stack and answer 500.
 *
 * A plain `application/json` body, what services send, is read by Fastify itself (its limit per
 * route is the route's `bodyLimit`). Any other Content-Type is looked at first: a JSON one
 * (`+json` types, parameters) is read here the same way once its charset is known to be UTF-8
 * (415 otherwise), and a body that is not JSON is left unread for JsonMediaTypeGuard to refuse
 * with 415 after the token guard (401 first), where Fastify would have refused it before any
 * guard ran. Fastify's own parsers are removed. Both read a Content-Encoding alike
 * (decodeContent): gzip (or x-gzip), deflate, br or zstd inflated whole within the limit (413
 * above, 400 for a body that does not inflate), 415 for another. A transfer coding other than
 * chunked never reaches it: refuseUnreadableBodies answers it 501 before the body is read.
 */
export function useJsonBodyParser(fastify: FastifyInstance, limitsOf: (routeUrl: string | undefined) => JsonBodyLimits): void {
  fastify.removeAllContentTypeParsers();
  // Every route reads at most its own limit; Fastify answers 413 before reading a longer body.
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit ??= limitsOf(route.url).limitBytes;
  });
  const readJson = (request: FastifyRequest, body: Buffer, done: ParserDone) => {
    let limits: JsonBodyLimits;
    let decoded: Buffer;
    try {
      limits = limitsOf(request.routeOptions.url);
      decoded = decodeContent(body, request.headers['content-encoding'], limits.limitBytes);
      if (decoded.length <= READ_IN_ONE_TURN_BYTES) {
        const parsed = finish(jsonBodySteps(decoded, limits.maxDepth));
        measureList(request.raw, decoded, limits);
        return done(null, parsed);
      }
    } catch (error) {
      return done(error as Error);
    }
    parseInTurns(jsonBodySteps(decoded, limits.maxDepth)).then(async (parsed) => {
      await nextTurnInLine();
      measureList(request.raw, decoded, limits);
      done(null, parsed);
    }, done);
  };
  fastify.addContentTypeParser(PLAIN_JSON, { parseAs: 'buffer', bodyLimit: limitsOf(undefined).limitBytes }, readJson);
  fastify.addContentTypeParser('*', (request: FastifyRequest, payload: NodeJS.ReadableStream, done: ParserDone) => {
    if (!typeis(request.raw, JSON_MEDIA_TYPES)) return done(null, undefined);
    const charsets = charsetsOf(request.headers['content-type'] ?? '');
    // Read by the first, as Node keeps the first of two Content-Types; another reader may take the last.
    if (charsets.length > 1) return done(new BadRequestException('The Content-Type header names more than one charset'));
    const charset = charsets[0] ?? 'utf-8';
    // RFC 8259, section 8.1: JSON between systems is UTF-8. Reading the bytes as UTF-8 whatever
    // the charset would be worse than refusing: in UTF-7 a `[` can be `+AFs-`, past the depth check.
    if (!UTF8_LABELS.has(charset)) return done(new UnsupportedMediaTypeException(`unsupported charset "${charset.toUpperCase()}"`));
    readBody(payload, request.headers['content-length'], limitsOf(request.routeOptions.url).limitBytes, (error, body) => (error ? done(error) : readJson(request, body!, done)));
  });
}

type ParserDone = (error: Error | null, body?: unknown) => void;

/** The names a charset parameter may give UTF-8 by (the WHATWG Encoding Standard's labels, which browsers read so). */
const UTF8_LABELS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']);

/** The charsets a Content-Type names, lower-cased, in order: none, one, or (ambiguously) more. */
function charsetsOf(contentType: string): string[] {
  const charsets: string[] = [];
  for (const [, name, quoted, token] of contentType.matchAll(PARAMETER)) {
    if (name.toLowerCase() === 'charset') charsets.push((quoted?.replace(/\\(.)/g, '$1') ?? token).toLowerCase());
  }
  return charsets;
}

/** `; name=value` in a Content-Type, the value a token or a quoted string (RFC 9110, section 5.6.6). */
const PARAMETER = /;\s*([^\s;=]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]*))/g;

/**
 * A request's body off the wire, at most `limitBytes` of it (413 past it, and before reading any
 * of a body whose Content-Length says it is longer), as Fastify reads a plain JSON one.
 */
function readBody(payload: NodeJS.ReadableStream, contentLength: string | undefined, limitBytes: number, done: (error: Error | null, body?: Buffer) => void): void {
  if (Number(contentLength) > limitBytes) return done(new PayloadTooLargeException('request entity too large'));
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  const finish = (error: Error | null, body?: Buffer) => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, body);
  };
  const onData = (chunk: Buffer) => {
    receivedBytes += chunk.length;
    if (receivedBytes > limitBytes) return finish(new PayloadTooLargeException('request entity too large'));
    chunks.push(chunk);
  };
  const onEnd = () => finish(null, Buffer.concat(chunks, receivedBytes));
  const onError = () => finish(new BadRequestException('request aborted'));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.resume();
}

/**
 * Bodies up to this size are checked and parsed in one turn of the event loop (each pass over
 * 64 KiB well under a millisecond). A larger one, up to a 1 MiB batch, lets the loop go round
 * between its passes (the depth scan, the number scan, the parse, the batch's item sizes: each
 * 5 to 10 ms over 1 MiB of small values), so other clients wait behind one pass, not all four
 * (about 35 ms of the pod in one turn).
 */
const READ_IN_ONE_TURN_BYTES = 64 * 1024;

/**
 * A UTF-8 JSON body: empty is `{}`, and only an object is accepted (no route takes anything
 * else); anything else is a 400 in Nest's error shape. Each pass over the bytes is one step
 * (the generator yields between them): see READ_IN_ONE_TURN_BYTES.
 */
function* jsonBodySteps(body: Buffer, maxDepth: number): Generator<void, unknown> {
  if (body.length === 0) return {};
  if (jsonNestingExceeds(body, maxDepth)) throw tooDeep(maxDepth);
  if (!isUtf8(body)) throw new BadRequestException(NOT_UTF8);
  // A UTF-8 byte order mark is read past, as body-parser's decoder did (RFC 8259 allows ignoring it).
  const text = body.toString('utf8', hasUtf8Bom(body) ? 3 : 0);
  const first = FIRST_JSON_CHAR.exec(text)?.[1];
  if (first !== '{') throw new BadRequestException(NOT_AN_OBJECT);
  yield;
  // Numbers a double would change are marked for the validators (InexactNumber); the scan is
  // one pass, and the slower parse runs only for bodies that hold one.
  const inexact = hasInexactNumber(body);
  yield;
  try {
    return inexact ? parseMarkingInexactNumbers(text) : JSON.parse(text);
  } catch (error) {
    // JSON.parse's own words, as body-parser answered: they say where the text goes wrong.
    throw new BadRequestException((error as Error).message);
  }
}

/** Runs a body's steps in this turn. */
function finish<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Runs a body's steps one turn of the event loop each, in line with other long work (nextTurnInLine). */
async function parseInTurns<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await nextTurnInLine();
  }
}

function hasUtf8Bom(body: Buffer): boolean {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
}
