import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { BadRequestException, HttpException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { json } from 'body-parser';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jsonNestingExceeds } from '../parsing/json-depth';
import { hasInexactNumber, parseMarkingInexactNumbers } from '../parsing/json-inexact-numbers';
import { listItemByteLengths } from '../parsing/json-list-items';

/** What the JSON parser reads; any other body is refused with 415 (JsonMediaTypeGuard). */
export const JSON_MEDIA_TYPES = ['application/json', '+json'];

/** The 415 for a body whose Content-Type is not a JSON media type (or not a media type at all). */
export const NOT_JSON_MEDIA_TYPE = 'The body must be JSON, sent with Content-Type: application/json';

/**
 * `application/json` with no parameters, as Fastify writes the header it matches parsers
 * against (lower case, trimmed): what services send, and always UTF-8.
 */
const PLAIN_JSON = /^application\/json$/;

/** The first character after JSON's own whitespace (body-parser's test for its strict mode). */
const FIRST_JSON_CHAR = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

/**
 * The Content-Encodings a body may come in, as body-parser reads them on the other path (zstd
 * where Node has it), x-gzip read as gzip (contentCoding); anything else is a 415.
 */
const DECODERS: Readonly<Record<string, (body: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer>> = {
  gzip: zlib.gunzipSync,
  deflate: zlib.inflateSync,
  br: zlib.brotliDecompressSync,
  ...('zstdDecompressSync' in zlib ? { zstd: (zlib as unknown as { zstdDecompressSync: typeof zlib.gunzipSync }).zstdDecompressSync } : {}),
};

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

/** The answer to a body nested deeper than the route allows, from either parser. */
function tooDeep(maxDepth: number): BadRequestException {
  return new BadRequestException(`The JSON body is nested deeper than ${maxDepth} levels`);
}

/**
 * The answer to a body that is not the UTF-8 it says it is, from either parser. Decoded anyway,
 * each bad byte would become U+FFFD, stored and delivered as if the publisher had sent it: a
 * notification quietly changed, where a WebSocket text frame like it is refused (1007).
 */
const NOT_UTF8 = 'The body is not valid UTF-8';

/**
 * Makes `fastify` read JSON request bodies within `limitsOf(route)`: at most `limitBytes` (413
 * above), nested at most `maxDepth` levels (400 above), checked on the raw bytes before
 * JSON.parse, class-transformer or the validators see the body: they recurse once per level, so
 * a 30,000-deep body would otherwise overflow the stack and answer 500.
 *
 * Two parsers. A plain `application/json` body, what services send, is read by Fastify itself
 * (its limit per route is the route's `bodyLimit`) and parsed here: body-parser's stream
 * handling, charset decoding and media-type parsing were about a tenth of a publish's CPU.
 * Anything else goes to body-parser's JSON parser, the one Express used, so its answers stay
 * what they were: 415 for a charset other than UTF-8, `+json` types read, and a body that is not
 * JSON left unread for JsonMediaTypeGuard to refuse with 415 after the token guard (401 first),
 * where Fastify would have refused it before any guard ran. Fastify's own parsers are removed.
 * Both read a Content-Encoding alike: gzip (or x-gzip), deflate, br or zstd inflated within the
 * limit (413 above, 400 for a body that does not inflate), 415 for another.
 */
export function useJsonBodyParser(fastify: FastifyInstance, limitsOf: (routeUrl: string | undefined) => JsonBodyLimits): void {
  fastify.removeAllContentTypeParsers();
  // Every route reads at most its own limit; Fastify answers 413 before reading a longer body.
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit ??= limitsOf(route.url).limitBytes;
  });
  fastify.addContentTypeParser(PLAIN_JSON, { parseAs: 'buffer', bodyLimit: limitsOf(undefined).limitBytes }, (request: FastifyRequest, body: Buffer, done: (error: Error | null, body?: unknown) => void) => {
    try {
      const limits = limitsOf(request.routeOptions.url);
      const decoded = decodeContent(body, request.headers['content-encoding'], limits.limitBytes);
      const parsed = parseJsonBody(decoded, limits.maxDepth);
      measureList(request.raw, decoded, limits);
      done(null, parsed);
    } catch (error) {
      done(error as Error);
    }
  });
  const bodyParsers = new Map<JsonBodyLimits, ParseJson>();
  fastify.addContentTypeParser('*', (request: FastifyRequest, _payload: IncomingMessage, done: (error: Error | null, body?: unknown) => void) => {
    const limits = limitsOf(request.routeOptions.url);
    let parse = bodyParsers.get(limits);
    if (!parse) bodyParsers.set(limits, (parse = bodyParserFor(limits)));
    const raw = request.raw as IncomingMessage & { body?: unknown };
    // body-parser knows no x-gzip: it reads the coding this parser would.
    if (raw.headers['content-encoding'] !== undefined) raw.headers['content-encoding'] = contentCoding(raw.headers['content-encoding']);
    // body-parser hands its response argument only to `verify`, which does not use it.
    parse(raw, undefined as unknown as ServerResponse, (error?: unknown) => {
      if (isInflateError(error)) done(notInflatable(contentCoding(request.headers['content-encoding']), error));
      else if (error !== undefined) done(asHttpException(error) as Error);
      else done(null, markedAgain(raw));
    });
  });
}

/**
 * A UTF-8 JSON body as body-parser's strict JSON parser reads it: empty is `{}`, and only an
 * object or an array is accepted; anything else is a 400 in Nest's error shape.
 */
export function parseJsonBody(body: Buffer, maxDepth: number): unknown {
  if (body.length === 0) return {};
  if (jsonNestingExceeds(body, maxDepth)) throw tooDeep(maxDepth);
  if (!isUtf8(body)) throw new BadRequestException(NOT_UTF8);
  // A UTF-8 byte order mark is read past, as body-parser's decoder did (RFC 8259 allows ignoring it).
  const text = body.toString('utf8', hasUtf8Bom(body) ? 3 : 0);
  const first = FIRST_JSON_CHAR.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw new BadRequestException('The JSON body must be an object or an array');
  try {
    // Numbers a double would change are marked for the validators (InexactNumber); the scan is
    // one pass, and the slower parse runs only for bodies that hold one.
    return hasInexactNumber(body) ? parseMarkingInexactNumbers(text) : JSON.parse(text);
  } catch (error) {
    // JSON.parse's own words, as body-parser answered: they say where the text goes wrong.
    throw new BadRequestException((error as Error).message);
  }
}

/**
 * The body as sent before its Content-Encoding, at most `limitBytes` once inflated (as body-parser
 * bounds it): Fastify's own limit counts the compressed bytes, and a few KiB of gzip can inflate
 * to gigabytes.
 */
export function decodeContent(body: Buffer, contentEncoding: string | undefined, limitBytes: number): Buffer {
  const coding = contentCoding(contentEncoding);
  if (coding === 'identity') return body;
  const decode = DECODERS[coding];
  if (!decode) throw new UnsupportedMediaTypeException(`unsupported content encoding "${coding}"`);
  try {
    return decode(body, { maxOutputLength: limitBytes });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw new PayloadTooLargeException('request entity too large');
    throw notInflatable(coding, error);
  }
}

/** The coding a Content-Encoding names, in lower case; x-gzip is gzip (RFC 9110, section 8.4.1.3: a recipient should read it so). */
function contentCoding(header: string | undefined): string {
  const coding = (header ?? 'identity').trim().toLowerCase() || 'identity';
  return coding === 'x-gzip' ? 'gzip' : coding;
}

/** zlib's own error for a body that is not what its Content-Encoding says (`Z_DATA_ERROR`, `Z_BUF_ERROR`, `ERR__...`). */
function isInflateError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ERR_ZSTD') || code.startsWith('ERR__'));
}

function notInflatable(coding: string, error: unknown): BadRequestException {
  return new BadRequestException(`The body is not valid ${coding} data, as its Content-Encoding says (${(error as Error).message})`);
}

function hasUtf8Bom(body: Buffer): boolean {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
}

type ParseJson = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/** The error body-parser passes on when `verify` throws: its `status` becomes the answer. */
class UnreadableJsonError extends Error {
  readonly expose = true;

  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** In body-parser's words for the charsets it does not read itself. */
function unsupportedCharset(charset: string): string {
  return `unsupported charset "${charset.toUpperCase()}"`;
}

function bodyParserFor(limits: JsonBodyLimits): ParseJson {
  const { limitBytes, maxDepth } = limits;
  return json({
    limit: limitBytes,
    type: JSON_MEDIA_TYPES,
    // The body as sent (inflated), before body-parser decodes it from its charset.
    verify(request: IncomingMessage, _response: unknown, body: Buffer, charset: string) {
      // body-parser lower-cases the charset, reads `utf-8` when there is none, and would decode
      // any other `utf-*` (UTF-16, UTF-7) after this check, which reads the bytes as UTF-8: in
      // UTF-7 a `[` can be `+AFs-`, so a body 6,000 levels deep passed it and overflowed the
      // stack (500). JSON between systems is UTF-8 (RFC 8259, section 8.1).
      if (charset !== 'utf-8') throw new UnreadableJsonError(unsupportedCharset(charset), 415);
      if (jsonNestingExceeds(body, maxDepth)) throw new UnreadableJsonError(tooDeep(maxDepth).message);
      if (!isUtf8(body)) throw new UnreadableJsonError(NOT_UTF8);
      if (hasInexactNumber(body)) (request as MayHoldInexactNumbers)[INEXACT_SOURCE] = body.toString('utf8', hasUtf8Bom(body) ? 3 : 0);
      measureList(request, body, limits);
    },
  }) as ParseJson;
}

/** Set by body-parser's `verify` on a request whose body holds an inexact number: its text, parsed again with markers. */
const INEXACT_SOURCE = Symbol('inexactNumbersSource');
type MayHoldInexactNumbers = IncomingMessage & { [INEXACT_SOURCE]?: string; body?: unknown };

/** body-parser's parse of the body, or, for a body with an inexact number, the parse that marks it (parseJsonBody does the same). */
function markedAgain(request: MayHoldInexactNumbers): unknown {
  const source = request[INEXACT_SOURCE];
  if (source === undefined) return request.body;
  request[INEXACT_SOURCE] = undefined;
  return parseMarkingInexactNumbers(source);
}

/** A client error from body-parser (http-errors: `status`, `expose`) as a Nest HttpException; anything else unchanged. */
function asHttpException(error: unknown): unknown {
  const { status, expose, message } = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return error;
  const reason = STATUS_CODES[status] ?? 'Error';
  const text = expose !== false && typeof message === 'string' ? message : reason;
  return new HttpException(HttpException.createBody(text, reason, status), status, { cause: error });
}
