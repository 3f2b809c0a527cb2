import { IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpException } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { boundedMessage } from '../parsing/json-text-length';
import { refuseAmbiguousHeaders } from './ambiguous-headers.hook';
import { listedOrigins } from './cors.policy';
import { timeFirstRequestsFromAccept } from './first-request-deadline';
import { errorBody, sendHttpError } from './error-reply';
import { NOT_JSON_MEDIA_TYPE } from './json-body.parser';

/**
 * Node's own keep-alive limit, which Fastify would otherwise raise to 72 s. (Fastify also sets no
 * deadline for a whole request: HTTP_REQUEST_TIMEOUT_MS gives one, so a client that trickles its
 * body cannot hold a socket for ever.)
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/**
 * How often Node looks for requests past HTTP_HEADERS_TIMEOUT_MS or HTTP_REQUEST_TIMEOUT_MS. Its
 * own 30 s would let a connection that never finishes its headers live up to 30 s past the
 * limit; the check walks only connections whose request is still being read.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * Route parameters as long as a request line may be (Node reads at most 16 KiB of headers):
 * find-my-way answers 404 for a longer parameter (100 by default), before a room name of up to
 * 128 characters, or a longer one the validators should name, reaches a controller.
 */
const MAX_PARAM_LENGTH = 16_384;

/**
 * Fastify's refusals of a body, in the words body-parser used for them on Express, and in
 * JsonMediaTypeGuard's for a Content-Type that is no media type at all (empty, `json`, a list):
 * Fastify refuses that before any parser or guard runs, as a bare "Unsupported Media Type".
 */
const CLIENT_ERROR_WORDS: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request entity too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'request size did not match content length',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: NOT_JSON_MEDIA_TYPE,
};

/**
 * What Fastify's router refuses before any route runs, in the error shape of section 6 and
 * without repeating the path as sent (Fastify's own answer quotes it, and adds a `code`).
 */
const ROUTER_ERROR_WORDS: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'The request path is not a valid URL path (a malformed percent-encoding)',
};

/**
 * Answers what the router refuses. No hook has run, @fastify/cors's included: a listed origin is
 * granted here as it would be there, or a browser sees a failed request instead of the 400.
 */
function routerErrorAnswer(isListed: (origin: string | undefined) => boolean) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const origin = request.headers.origin;
    if (isListed(origin)) void reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
    // Not kept alive: answered before any hook runs, this answer could not say so while the pod
    // drains (closeKeepAliveWhileDraining), and a client that sends unreadable URLs loses little.
    void reply.header('connection', 'close');
    sendHttpError(reply, error.statusCode ?? 400, ROUTER_ERROR_WORDS[error.code]);
  };
}

/**
 * 404 for a path no route serves, before its body is read: Fastify's not-found handler parses a
 * body like any route's, so `POST /nope` with a malformed, deep or undecodable body answered
 * 400/415, and so did a service route on PORT when INTERNAL_PORT moves it away (section 7: 404).
 * In the words Nest's own not-found handler uses; after onRequest, so CORS headers are set.
 */
function answerUnknownRoute(request: FastifyRequest, reply: FastifyReply, payload: RequestPayload, done: (error: Error | null, payload?: RequestPayload) => void): void {
  if (!request.is404 && !isLeftOverOptions(request)) return done(null, payload);
  // The path only: a query string may hold a token (`/ws?token=` asked without an upgrade), and
  // a response body is what proxies and APM agents log.
  const url = request.raw.url ?? '';
  const query = url.indexOf('?');
  sendHttpError(reply, 404, `Cannot ${request.raw.method} ${query === -1 ? url : url.slice(0, query)}`);
}

/**
 * An OPTIONS request that reached @fastify/cors's catch-all route: the plugin answers a listed
 * origin's preflight of a route in its onRequest hook (corsPolicy), so what reaches the route is
 * any other OPTIONS (an unlisted origin, none at all, no preflight, a preflight of a path that
 * has no such route), which the route answers 404 only after its body was parsed (400 for a
 * malformed one, 413, 415).
 */
function isLeftOverOptions(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.routeOptions.url === '*';
}

/**
 * Every answer is of the type it says (JSON, the demo page, the SDK): a browser must not guess
 * another from its bytes, as an error that echoes what was sent is still JSON, never HTML. The
 * answers Node or Herald write before Fastify (417, 405, refused upgrades) carry it too.
 */
const NO_SNIFFING = { 'x-content-type-options': 'nosniff' } as const;

function forbidSniffing(_request: IncomingMessage, response: ServerResponse): void {
  response.setHeader('x-content-type-options', 'nosniff');
}

/**
 * Node answers an `Expect` other than 100-continue with a bare 417; this one is in the error
 * shape of section 6, and grants a listed origin as every other answer does (Node answers before
 * Fastify, so @fastify/cors never sees it): without the grant, a browser saw a failed request.
 */
function answerUnmetExpectation(isListed: (origin: string | undefined) => boolean) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const body = JSON.stringify(errorBody(417, 'Only "Expect: 100-continue" is supported'));
    const origin = request.headers.origin;
    const grant = isListed(origin) ? { 'access-control-allow-origin': origin!, vary: 'Origin' } : {};
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', ...NO_SNIFFING, ...grant }).end(body);
  };
}

/**
 * `Expect: 100-continue` answered `100 Continue` when the body is first read, not as soon as the
 * headers are in (Node's default): a refusal the headers decide (401, 403, 404, 413 by
 * Content-Length, 415) is then the only answer, and the client never uploads a body that would
 * be refused (RFC 9110, section 10.1.1). Node closes such a connection after the answer, the body
 * never sent. Nothing is sent once an answer has started (Node reads what is left of a body it
 * answered before reading, to keep the connection).
 */
function continueWhenBodyRead(server: Server) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    request._read = function (size: number) {
      delete (this as Partial<IncomingMessage>)._read;
      if (!response.headersSent) response.writeContinue();
      this._read(size);
    };
    server.emit('request', request, response);
  };
}

/**
 * The answer to a CONNECT request (a proxy tunnel): Node hands those to a 'connect' listener
 * rather than to Fastify, and with none it dropped the connection without a word. Herald is no
 * proxy: 405 in section 6's error shape, and the connection closed.
 */
function refuseTunnel(_request: IncomingMessage, socket: Duplex): void {
  const body = JSON.stringify(errorBody(405, 'CONNECT is not supported'));
  socket.on('error', () => undefined); // the client may be gone already; nothing to tell it
  socket.end(`HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Node's refusals of a request it cannot read, in the error shape of section 6 and naming what
 * was wrong: Fastify's default answered every parse error `Client Error`, so a client that sent
 * Content-Length twice, or beside Transfer-Encoding, or a Transfer-Encoding not ending in
 * chunked, could not tell which header was at fault. llhttp's reason is a fixed phrase
 * (`Duplicate Content-Length`), never the client's bytes. 408 and 431 as Fastify answered them;
 * a connection the client reset, or already gone, gets nothing. Nor does one whose request was
 * answered already: Node hands a request on once its headers are in, so a body it then cannot
 * read (a bad chunk size behind a 401, a Transfer-Encoding not ending in chunked behind a 404)
 * failed after the answer, and Fastify's handler wrote a second one, a stray 400 a keep-alive
 * client would take for the answer to its next request. As Node's own handler does, the
 * connection is then only closed.
 */
function answerClientError(error: Error & { code?: string; reason?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (answerStarted(socket)) {
    socket.destroy(error);
    return;
  }
  const [status, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Client Timeout']
    : error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Exceeded maximum allowed HTTP header size']
    : [400, typeof error.reason === 'string' && error.code?.startsWith('HPE_') ? `The request is not valid HTTP: ${error.reason}` : 'The request is not valid HTTP'];
  const body = JSON.stringify(errorBody(status, message));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** Whether the answer to the request in flight on `socket` has begun (Node's own clientError handler asks the same). */
function answerStarted(socket: Duplex): boolean {
  // Node's link from a socket to the response it is writing; not typed, but what Node itself reads.
  const response = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  return response !== undefined && response !== null && response.headersSent;
}

/** How long a client may take to send a request: its headers, and all of it (408 and closed past either). */
export interface HttpTimeouts {
  /** HTTP_HEADERS_TIMEOUT_MS (a WebSocket handshake is headers only). */
  headersMs: number;
  /** HTTP_REQUEST_TIMEOUT_MS: headers and body. */
  requestMs: number;
}

/**
 * The HTTP platform of every Herald application. Fastify rather than Express: its router, body
 * reading and reply cost less per request than Express's middleware chain, body-parser, res.send
 * and its ETag hashing, and a publish is one request (see the README's design notes). Routes
 * match as they did on Express: regardless of case and of a trailing slash.
 */
export class HeraldFastifyAdapter extends FastifyAdapter {
  /** `allowedOrigins`: ALLOWED_ORIGINS, for the application that serves browsers (see routerErrorAnswer). */
  constructor({ headersMs, requestMs }: HttpTimeouts, allowedOrigins: readonly string[] = []) {
    const isListed = listedOrigins(allowedOrigins);
    super({
      // A missing Host is refused by refuseAmbiguousHeaders, in the error shape (Node's 400 has no body).
      http: { headersTimeout: headersMs, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS, requireHostHeader: false },
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      requestTimeout: requestMs,
      routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
      frameworkErrors: routerErrorAnswer(isListed),
      clientErrorHandler: answerClientError,
    });
    // Node keeps a request's first 1,000 or so header lines by default and drops the rest unseen,
    // so a second Authorization, Host or Content-Type sent after a thousand others passed the
    // checks that refuse two (refuseAmbiguousHeaders, requestBearerToken). Every line kept: the
    // 16 KB header size limit bounds them all the same.
    this.getInstance().server.maxHeadersCount = 0;
    timeFirstRequestsFromAccept(this.getInstance().server, { headersMs, requestMs, checkEveryMs: TIMEOUT_CHECK_INTERVAL_MS }, (socket) =>
      answerClientError(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket),
    );
    this.getInstance().addHook('preParsing', refuseAmbiguousHeaders);
    this.getInstance().addHook('preParsing', answerUnknownRoute);
    // Before Fastify's own listener, so the router's refusals (answered before any hook) have it too.
    this.getInstance().server.prependListener('request', forbidSniffing);
    this.getInstance().server.on('checkExpectation', answerUnmetExpectation(isListed));
    this.getInstance().server.on('checkContinue', continueWhenBodyRead(this.getInstance().server));
    this.getInstance().server.on('connect', refuseTunnel);
  }

  /**
   * Every error body in section 6's shape: Nest's answer to an error that is not an
   * HttpException (a bug) is `{statusCode: 500, message}`, without `error`. Each message line
   * is bounded (boundedMessage), as it may repeat what the client sent.
   */
  override reply(response: Parameters<FastifyAdapter['reply']>[0], body: unknown, statusCode?: number): ReturnType<FastifyAdapter['reply']> {
    if (statusCode !== undefined && statusCode >= 400 && lacksErrorName(body)) body = { ...body, error: STATUS_CODES[statusCode] ?? 'Error' };
    if (statusCode !== undefined && statusCode >= 400 && hasMessage(body)) body = { ...body, message: Array.isArray(body.message) ? body.message.map(boundedMessage) : boundedMessage(body.message) };
    return super.reply(response, body, statusCode);
  }

  /**
   * Nest turns a client error Fastify raised (a body over the route's limit) into an
   * HttpException whose body has no `error` field; section 6 promises `{statusCode, message,
   * error}` for every error.
   */
  override mapException(error: unknown): unknown {
    // The client hung up in the middle of its body: its fault, not the server's, and nobody is
    // there to read an answer. Unmapped, Nest logged each one as an ERROR with a stack trace, so
    // anyone could fill the log by starting requests and dropping them.
    if (isClientAbort(error)) return new HttpException(HttpException.createBody('request aborted', STATUS_CODES[400]!, 400), 400, { cause: error });
    const mapped = super.mapException(error);
    if (!(mapped instanceof HttpException) || typeof mapped.getResponse() !== 'string') return mapped;
    const status = mapped.getStatus();
    const code = (error as { code?: unknown }).code;
    const message = (typeof code === 'string' && CLIENT_ERROR_WORDS[code]) || mapped.message;
    return new HttpException(HttpException.createBody(message, STATUS_CODES[status] ?? 'Error', status), status, { cause: error });
  }
}

function lacksErrorName(body: unknown): body is { statusCode: number; message: unknown } {
  return typeof body === 'object' && body !== null && 'statusCode' in body && 'message' in body && !('error' in body);
}

function hasMessage(body: unknown): body is { message: string | string[] } {
  if (typeof body !== 'object' || body === null) return false;
  const { message } = body as { message?: unknown };
  return typeof message === 'string' || (Array.isArray(message) && message.every((line) => typeof line === 'string'));
}

/** Node's error for a request whose client closed the connection before its body was complete. */
function isClientAbort(error: unknown): boolean {
  // By shape: Node's own errors need not be this realm's Error (a test runner's VM context).
  if (typeof error !== 'object' || error === null) return false;
  const { message, code } = error as { message?: unknown; code?: unknown };
  return message === 'aborted' || code === 'ECONNRESET' || code === 'ECONNABORTED';
}
