import type { FastifyRequest, FastifyReply, RequestPayload } from 'fastify';
import { sendHttpError } from './error-reply';

/**
 * 400 for a request whose headers do not say one thing, before its body is read:
 * - no Host on HTTP/1.1, or more than one (RFC 9112, section 3.2: a server must answer 400).
 *   Node's own answer to the first had an empty body; it is turned off (requireHostHeader) so
 *   that this one is in section 6's error shape.
 * - more than one Content-Type: Node keeps the first and drops the rest, so a body sent as
 *   `application/json` and `text/plain` was read as JSON where another server in front of
 *   Herald may have judged it by the second.
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
  const hosts = countOf(request.raw.rawHeaders, 'host');
  if (hosts > 1) return 'The request has more than one Host header';
  if (hosts === 0 && request.raw.httpVersion === '1.1') return 'The request has no Host header, which HTTP/1.1 requires';
  if (countOf(request.raw.rawHeaders, 'content-type') > 1) return 'The request has more than one Content-Type header';
  return undefined;
}

/** How many header lines are named `name` (lower case) in Node's rawHeaders, `[name, value, name, value...]`. */
function countOf(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === name.length && rawHeaders[i].toLowerCase() === name) count++;
  return count;
}
