import type { FastifyRequest, FastifyReply, RequestPayload } from 'fastify';
import { transferCodings } from './content-coding';
import { sendHttpError } from './error-reply';

/**
 * 400 for a request whose headers do not say one thing, before its body is read:
 * - no Host on HTTP/1.1, or more than one (RFC 9112, section 3.2: a server must answer 400).
 *   Node's own answer to the first had an empty body; it is turned off (requireHostHeader) so
 *   that this one is in section 6's error shape.
 * - more than one Content-Type: Node keeps the first and drops the rest, so a body sent as
 *   `application/json` and `text/plain` was read as JSON where another server in front of
 *   Herald may have judged it by the second.
 * - a Transfer-Encoding whose last coding is not chunked (RFC 9112, section 6.3: the body's
 *   length cannot be known, and a server must answer 400 and close). Node hands such a request
 *   on and fails only when it reads the body, so the token's 401, a 404 or the 501 for an
 *   unread coding went out first, and then Node's own 400.
 * A preParsing hook: after onRequest, so a listed origin's CORS grant is on the 400.
 */
export function refuseAmbiguousHeaders(request: FastifyRequest, reply: FastifyReply, payload: RequestPayload, done: (error: Error | null, payload?: RequestPayload) => void): void {
  const problem = ambiguity(request);
  if (problem === undefined) return done(null, payload);
  // Not kept alive: what else such a client sends on this connection is as doubtful.
  void reply.header('connection', 'close');
  sendHttpError(reply, 400, problem);
}

function ambiguity(request: FastifyRequest): string | undefined {
  const { hosts, contentTypes } = countHostsAndContentTypes(request.raw.rawHeaders);
  if (hosts > 1) return 'The request has more than one Host header';
  if (hosts === 0 && request.raw.httpVersion === '1.1') return 'The request has no Host header, which HTTP/1.1 requires';
  if (contentTypes > 1) return 'The request has more than one Content-Type header';
  const transferEncoding = request.headers['transfer-encoding'];
  if (transferEncoding !== undefined && transferCodings(transferEncoding).at(-1) !== 'chunked') {
    return 'The request has a Transfer-Encoding that does not end in chunked, so the length of its body cannot be known';
  }
  return undefined;
}

/**
 * How many header lines name Host and Content-Type in Node's rawHeaders, `[name, value, ...]`:
 * one pass for both, asked of every request, and only names of their length lower-cased.
 */
function countHostsAndContentTypes(rawHeaders: readonly string[]): { hosts: number; contentTypes: number } {
  let hosts = 0;
  let contentTypes = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
    else if (name.length === 12 && name.toLowerCase() === 'content-type') contentTypes++;
  }
  return { hosts, contentTypes };
}
