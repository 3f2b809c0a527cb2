import type { FastifyRequest, HTTPMethods } from 'fastify';

/** What a listed origin's preflight may ask for (section 6). */
const GRANTED_METHODS: readonly string[] = ['GET', 'POST'];

/** What @fastify/cors is told for one request (its per-request options). */
interface CorsDecision {
  origin: string | false;
  /** Whether an OPTIONS request is answered here as a preflight; false routes it like any request. */
  preflight?: boolean;
  methods?: string[];
  allowedHeaders?: string[];
  maxAge?: number;
}

type CorsDelegate = (request: FastifyRequest, decide: (error: Error | null, options: CorsDecision) => void) => void;

/**
 * Section 6's CORS, decided per request: a listed origin gets its own origin back on every
 * answer, and its preflights GET and POST with the authorization and content-type headers.
 * Anything else (an unlisted origin, no Origin at all) is granted nothing. Given the list as its
 * `origin` option, @fastify/cors still granted every preflight the methods and headers (without
 * Access-Control-Allow-Origin), and answered a preflight without Origin with a bare text/plain
 * 400; told `false`, it leaves such a request to routing, which answers it in the error shape.
 *
 * A listed origin's OPTIONS is answered as a preflight only when it is one of a route this port
 * has (its Access-Control-Request-Method at its path): the plugin otherwise answered a plain
 * OPTIONS with a text/plain 400, and granted a preflight of a path that answers 404 (an unknown
 * one, or a service route on PORT with INTERNAL_PORT set). Those are routed like any request
 * instead: a 404 in the error shape, carrying the origin's grant.
 */
export function corsPolicy(allowedOrigins: readonly string[]): CorsDelegate {
  const isListed = listedOrigins(allowedOrigins);
  return (request, decide) => {
    const origin = request.headers.origin;
    if (!isListed(origin)) return decide(null, { origin: false });
    if (request.method === 'OPTIONS' && !isPreflightOfARoute(request)) return decide(null, { origin, preflight: false });
    decide(null, { origin, methods: [...GRANTED_METHODS], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
  };
}

/** An OPTIONS request asking for a granted method that a route of this application serves at its path. */
function isPreflightOfARoute(request: FastifyRequest): boolean {
  const method = request.headers['access-control-request-method'];
  if (typeof method !== 'string' || !GRANTED_METHODS.includes(method)) return false;
  // The router's own match, as for the request itself: regardless of case, a trailing slash and
  // the query. (Typed as never null, findRoute answers null for a path no route serves.)
  return Boolean(request.server.findRoute({ method: method as HTTPMethods, url: request.url }));
}

/** Whether an Origin header names a listed origin, exactly as sent (a lookalike in other case is not). */
export function listedOrigins(allowedOrigins: readonly string[]): (origin: string | undefined) => origin is string {
  const listed = new Set(allowedOrigins);
  return (origin): origin is string => origin !== undefined && listed.has(origin);
}
