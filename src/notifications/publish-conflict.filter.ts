import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { PublishConflictError } from './publish-conflict.error';

/** 409 in Nest's error shape for a reused publish id, so NotificationsService stays HTTP-free. */
@Catch(PublishConflictError)
export class PublishConflictFilter implements ExceptionFilter {
  catch(error: PublishConflictError, host: ArgumentsHost): void {
    // Only the HTTP publish raises it; anything else is not ours to answer.
    if (host.getType() !== 'http') throw error;
    host
      .switchToHttp()
      .getResponse<FastifyReply>()
      .code(HttpStatus.CONFLICT)
      .send({ statusCode: HttpStatus.CONFLICT, message: error.message, error: 'Conflict' });
  }
}
