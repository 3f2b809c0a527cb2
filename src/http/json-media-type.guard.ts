import { CanActivate, ExecutionContext, Injectable, UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import typeis from 'type-is';
import { JSON_MEDIA_TYPES, NOT_JSON_MEDIA_TYPE } from './json-body.parser';

/**
 * A request that carries a body must say it is JSON (section 6: 415 otherwise). Without this,
 * the body parser leaves a text or form body unread and the validators answer with field errors about
 * fields that were in fact sent. Runs on matched routes only, after the token guard, so an
 * unknown path is still a 404 and a missing token still a 401.
 *
 * A guard rather than an interceptor: Herald has no other interceptor, and with none Nest runs
 * a handler without building an rxjs pipeline for every request (about 4% of a publish's CPU).
 * Guards run before interceptors and pipes, so the order of the answers is the same.
 */
@Injectable()
export class JsonMediaTypeGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') {
      if (!hasAcceptableMediaType(context.switchToHttp().getRequest<FastifyRequest>())) {
        throw new UnsupportedMediaTypeException(NOT_JSON_MEDIA_TYPE);
      }
    }
    return true;
  }
}

/** No body, a body that says it is JSON, or a body nothing reads (a GET's or a HEAD's). */
export function hasAcceptableMediaType(request: FastifyRequest): boolean {
  // What services send, without type-is parsing the header.
  if (request.headers['content-type'] === 'application/json') return true;
  // Such a body has no meaning (RFC 9110, section 9.3.1) and no GET route reads one: a probe or
  // a proxy that sends one anyway must not turn /healthz into a 415.
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  return !hasContent(request) || Boolean(typeis(request.raw, JSON_MEDIA_TYPES));
}

/** Whether a request carries content: `Content-Length: 0` says it has none, as its absence does, and neither has a type to judge. */
function hasContent(request: FastifyRequest): boolean {
  return typeis.hasBody(request.raw) && (request.headers['transfer-encoding'] !== undefined || request.headers['content-length'] !== '0');
}
