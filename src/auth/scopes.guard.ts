import { applyDecorators, CanActivate, ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { Principal, Scope } from './principal';
import { TokenRejection, TokenVerifier, Verification, requestBearerToken } from './token.verifier';

/** The Fastify route config of a handler that needs a token (see refuseUnauthenticatedBodies). */
export interface TokenRouteConfig {
  heraldTokenRequired?: true;
  /** The scope the token must carry, when the handler names one. */
  heraldRequiredScope?: Scope;
}

/** The 403's words, from the guard or from the check before the body is read. */
export function lacksScopeMessage(scope: Scope): string {
  return `The token lacks the "${scope}" scope`;
}

/**
 * Marks an HTTP handler as needing a bearer token; with a scope, the token must carry it. The
 * OpenAPI document says so too, and so does the route's Fastify config, read before the body is.
 */
export const RequireToken = (scope?: Scope) =>
  applyDecorators(
    RouteConfig({ heraldTokenRequired: true, ...(scope ? { heraldRequiredScope: scope } : {}) } satisfies TokenRouteConfig),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ type: HttpErrorDto, description: 'No valid bearer token' }),
    ...(scope ? [ApiForbiddenResponse({ type: HttpErrorDto, description: lacksScopeMessage(scope) })] : []),
  );

export type AuthenticatedRequest = FastifyRequest & { principal: Principal };

/** A request whose token the pre-body check already verified (refuseUnauthenticatedBodies). */
export type VerifiedRequest = FastifyRequest & { tokenVerification?: Verification };

/** HTTP authentication: 401 without a valid token, 403 without the scope the handler names. */
@Injectable()
export class HttpTokenGuard implements CanActivate {
  constructor(private readonly verifier: TokenVerifier) {}

  canActivate(context: ExecutionContext): boolean {
    // Global guards run on gateway handlers too: a frame's connection was authenticated at the
    // handshake and is checked again by WsJwtGuard, and no handler there requires a token here.
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest & VerifiedRequest>();
    // What RequireToken put in the route's config, which the check before the body reads too.
    const config = request.routeOptions.config as TokenRouteConfig | undefined;
    if (!config?.heraldTokenRequired) return true;
    const required = config.heraldRequiredScope;
    // Services send the same token with every request: verified once, remembered until it expires.
    const verification = request.tokenVerification ?? this.verifier.verifyRepeated(requestBearerToken(request.raw));
    if (!verification.ok) throw new UnauthorizedException(unauthorizedMessage(verification.reason));
    if (required && !verification.principal.scopes.includes(required)) {
      throw new ForbiddenException(lacksScopeMessage(required));
    }
    request.principal = verification.principal;
    return true;
  }
}

/** The 401's words, the same whether the guard or the pre-body check (refuseUnauthenticatedBodies) refuses. */
export function unauthorizedMessage(reason: TokenRejection): string {
  return reason === 'token_expired' ? 'The bearer token has expired' : 'A valid bearer token is required';
}
