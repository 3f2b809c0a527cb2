import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { lacksScopeMessage, TokenRouteConfig, unauthorizedMessage, VerifiedRequest } from '../auth/scopes.guard';
import { requestBearerToken, TokenVerifier } from '../auth/token.verifier';
import { sendHttpError } from './error-reply';

/**
 * 401 for a request without a valid bearer token to a route that needs one, and 403 for a token
 * without the route's scope, before its body is read: section 6 answers "401 (no/invalid
 * token)" and "403 (no scope)", and the body parser ran before the token guard, so a caller with
 * a malformed, oversized, deep or compressed body was answered 400/413/415 (and had its body
 * read, inflated and parsed). The guard checks both again after the body, from the same route
 * config (HttpTokenGuard); services send the same token every time, which verifyRepeated
 * remembers. A preParsing hook: after onRequest, so CORS headers are already set on the 401.
 */
export function refuseUnauthenticatedBodies(fastify: FastifyInstance, verifier: TokenVerifier): void {
  fastify.addHook('preParsing', (request: FastifyRequest, reply: FastifyReply, payload: RequestPayload, done: (error: Error | null, payload?: RequestPayload) => void) => {
    const config = request.routeOptions.config as TokenRouteConfig | undefined;
    if (!config?.heraldTokenRequired) return done(null, payload);
    const verification = verifier.verifyRepeated(requestBearerToken(request.raw));
    // A browser user's token on a service route: 403 before a megabyte of batch is read and parsed.
    if (verification.ok && config.heraldRequiredScope && !verification.principal.scopes.includes(config.heraldRequiredScope)) {
      return sendHttpError(reply, 403, lacksScopeMessage(config.heraldRequiredScope));
    }
    if (verification.ok) {
      // The guard takes it from here instead of looking the token up again (HttpTokenGuard).
      (request as VerifiedRequest).tokenVerification = verification;
      return done(null, payload);
    }
    sendHttpError(reply, 401, unauthorizedMessage(verification.reason));
  });
}
