import { CallHandler, ExecutionContext, Injectable, NestInterceptor, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import typeis from 'type-is';
import { JSON_MEDIA_TYPES } from './json-body.parser';

/**
 * A request that carries a body must say it is JSON (section 6: 415 otherwise). Without this,
 * Express leaves a text or form body unparsed and the validators answer with field errors about
 * fields that were in fact sent. Runs on matched routes only, after authentication, so an
 * unknown path is still a 404 and a missing token still a 401.
 */
@Injectable()
export class JsonMediaTypeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const request = context.switchToHttp().getRequest<Request>();
      if (typeis.hasBody(request) && !typeis(request, JSON_MEDIA_TYPES)) {
        throw new UnsupportedMediaTypeException('The body must be JSON, sent with Content-Type: application/json');
      }
    }
    return next.handle();
  }
}
