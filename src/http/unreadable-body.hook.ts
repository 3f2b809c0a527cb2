import { HttpException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import typeis from 'type-is';
import { refuseUnreadableCodings } from './content-coding';
import { sendHttpError } from './error-reply';
import { JSON_MEDIA_TYPES } from './json-body.parser';

/**
 * 415 for a JSON body in a Content-Encoding Herald does not read, and 501 for one in a transfer
 * coding other than chunked, before the body is read: both are decided by the headers alone, and
 * the body parser found them only once it had the body, so a client that sent `Expect:
 * 100-continue` was told `100 Continue` and uploaded a body that was then refused (section 6:
 * such a refusal is the only answer). A preParsing hook registered after the token's
 * (refuseUnauthenticatedBodies): 401 and 403 come first, as for every body. A GET's or a HEAD's
 * body is never read, and a body that is not JSON gets JsonMediaTypeGuard's 415 as before.
 */
export function refuseUnreadableBodies(fastify: FastifyInstance): void {
  fastify.addHook('preParsing', (request: FastifyRequest, reply: FastifyReply, payload: RequestPayload, done: (error: Error | null, payload?: RequestPayload) => void) => {
    if (request.method === 'GET' || request.method === 'HEAD' || !typeis(request.raw, JSON_MEDIA_TYPES)) return done(null, payload);
    try {
      refuseUnreadableCodings(request.headers['content-encoding'], request.headers['transfer-encoding']);
    } catch (error) {
      if (!(error instanceof HttpException)) return done(error as Error);
      return sendHttpError(reply, error.getStatus(), error.message);
    }
    done(null, payload);
  });
}
