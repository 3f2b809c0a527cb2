import type { FastifyRequest } from 'fastify';

/** What @fastify/cors is told for one request (its per-request options). */
interface CorsDecision {
  origin: string | false;
  methods?: string[];
  allowedHeaders?: string[];
  maxAge?: number;
}

type CorsDelegate = (request: FastifyRequest, decide: (error: Error | null, options: CorsDecision) => void) => void;

/**
 * Section 6's CORS, decided per request: a listed origin gets its own origin back, and its
 * preflights GET and POST with the authorization and content-type headers. Anything else (an
 * unlisted origin, no Origin at all) is granted nothing. Given the list as its `origin` option,
 * @fastify/cors still granted every preflight the methods and headers (without
 * Access-Control-Allow-Origin), and answered a preflight without Origin with a bare text/plain
 * 400; told `false`, it leaves such a request to routing, which answers it in the error shape.
 */
export function corsPolicy(allowedOrigins: readonly string[]): CorsDelegate {
  const isListed = listedOrigins(allowedOrigins);
  return (request, decide) => {
    const origin = request.headers.origin;
    decide(null, isListed(origin) ? { origin, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 } : { origin: false });
  };
}

/** Whether an Origin header names a listed origin, exactly as sent (a lookalike in other case is not). */
export function listedOrigins(allowedOrigins: readonly string[]): (origin: string | undefined) => origin is string {
  const listed = new Set(allowedOrigins);
  return (origin): origin is string => origin !== undefined && listed.has(origin);
}
