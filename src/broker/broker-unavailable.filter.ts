import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerUnavailableError } from './broker';

/**
 * Every HTTP endpoint answers 503 when the broker is unreachable (section 7), in Nest's error
 * shape, from this one place: services throw BrokerUnavailableError and stay HTTP-free. The
 * WebSocket side maps the same error to `unavailable` in WsErrorFilter.
 */
@Catch(BrokerUnavailableError)
export class BrokerUnavailableFilter implements ExceptionFilter {
  catch(error: BrokerUnavailableError, host: ArgumentsHost): void {
    // Gateways have their own filter (WsErrorFilter); anything else is not ours to answer.
    if (host.getType() !== 'http') throw error;
    const http = host.switchToHttp();
    // A read (GET) changes nothing, whether or not Redis ran it.
    const mayHaveApplied = error.mayHaveApplied && http.getRequest<FastifyRequest>().method !== 'GET';
    http
      .getResponse<FastifyReply>()
      .code(HttpStatus.SERVICE_UNAVAILABLE)
      .send({ statusCode: HttpStatus.SERVICE_UNAVAILABLE, message: this.messageFor(mayHaveApplied ? error.unconfirmedBecause : undefined), error: 'Service Unavailable' });
  }

  /**
   * What the caller should know and do; a controller whose requests are not publishes words its
   * own (UseFilters). `unconfirmedBecause`: why a write that may have been applied all the same
   * was not confirmed; undefined when nothing was stored or applied.
   */
  protected messageFor(unconfirmedBecause: string | undefined): string {
    return unconfirmedBecause !== undefined
      ? `The message broker could not confirm the request (${unconfirmedBecause}), so it is not acknowledged; it may have been stored and delivered all the same. Retry later with the same id: it is delivered once.`
      : 'The message broker is unreachable, so the request was not stored or applied. Retry later; a publish retried with the same id is delivered once.';
  }
}
