import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A connection whose first request is not in yet: when it was accepted, and whether its headers are. */
interface Waiting {
  acceptedAtMs: number;
  headersIn: boolean;
}

/**
 * Times each connection's first request from the moment the connection was accepted: its
 * headers must be in within `headersMs`, the whole request within `requestMs`; past either,
 * `timedOut` answers it (408) and closes it. Node times a request from its first byte, so a
 * client that stayed silent for almost HTTP_HEADERS_TIMEOUT_MS (when Node closes a silent
 * connection) and then trickled its headers held the socket twice that long, and one that then
 * trickled a body HTTP_HEADERS_TIMEOUT_MS + HTTP_REQUEST_TIMEOUT_MS. Later requests on a
 * keep-alive connection keep Node's own timing, after an idle wait Node bounds by its keep-alive
 * timeout. Looked at every `checkEveryMs`, as Node looks at its own; a WebSocket leaves the list
 * at the first look after its upgrade, so only connections with a first request under way stay.
 */
export function timeFirstRequestsFromAccept(server: Server, { headersMs, requestMs, checkEveryMs }: { headersMs: number; requestMs: number; checkEveryMs: number }, timedOut: (socket: Duplex) => void): void {
  const waiting = new Map<Socket, Waiting>();
  server.on('connection', (socket: Socket) => waiting.set(socket, { acceptedAtMs: performance.now(), headersIn: false }));
  server.on('request', ({ socket }, response) => {
    const first = waiting.get(socket);
    if (!first) return;
    first.headersIn = true;
    // Read whole, or answered (a 401 before its body is read): Node's own timing takes over.
    const done = () => waiting.delete(socket);
    response.once('finish', done);
    response.req.once('end', done);
  });
  const check = setInterval(() => {
    const now = performance.now();
    for (const [socket, { acceptedAtMs, headersIn }] of waiting) {
      // Gone, or upgraded to a WebSocket (Node frees its HTTP parser). Not told by an 'upgrade'
      // listener: one makes Node hand over the socket of every upgrade, and on a server that
      // serves none (INTERNAL_PORT's) nothing would then close it.
      if (socket.destroyed || !httpParserOf(socket)) waiting.delete(socket);
      else if (now - acceptedAtMs >= (headersIn ? requestMs : headersMs)) {
        waiting.delete(socket);
        timedOut(socket);
      }
    }
  }, checkEveryMs);
  check.unref();
  server.once('close', () => clearInterval(check));
}

/** The HTTP parser Node keeps on a socket while it reads requests from it (not typed: what Node itself reads). */
function httpParserOf(socket: Socket): unknown {
  return (socket as Socket & { parser?: unknown }).parser;
}
