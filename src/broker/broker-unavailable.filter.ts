import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerUnavailableError } from './broker';

/**
 * Retry-After of every 503 below (RFC 9110, 10.2.3), in seconds: the longest a pod waits between
 * tries to reach Redis (RECONNECT_DEFAULTS.reconnectMaxDelayMs), so a retry sooner is as likely to
 * find it still unreachable, or still silent for a write it could not confirm. PublishClient and
 * other clients that honour it wait that long, not less. A batch's 207 with an item answered 503
 * carries it too (NotificationsBatchController).
 */
export const RETRY_AFTER_S = '2';

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
    const request = http.getRequest<FastifyRequest>();
    const unconfirmedBecause = request.method === 'GET' ? undefined : unconfirmedBecauseOf(error);
    http
      .getResponse<FastifyReply>()
      .code(HttpStatus.SERVICE_UNAVAILABLE)
      .header('retry-after', RETRY_AFTER_S)
      .send({ statusCode: HttpStatus.SERVICE_UNAVAILABLE, message: this.messageFor(unconfirmedBecause, request.body), error: 'Service Unavailable' });
  }

  /**
   * What the caller should know and do; a controller whose requests are not publishes words its
   * own (UseFilters). `unconfirmedBecause`: why a write that may have been applied all the same
   * was not confirmed; undefined when nothing was stored or applied. `body`: the request's, for
   * whether it carried an `id` (carriesId), which makes publishing it again safe.
   */
  protected messageFor(unconfirmedBecause: string | undefined, body: unknown): string {
    return publishUnavailableMessage(unconfirmedBecause, carriesId(body));
  }
}

/**
 * A publish's 503, a single one's (the filter's own words) and a batch item's alike, as the batch
 * answers each item as a single publish of it would be answered. `unconfirmedBecause`: why a
 * publish that may have been stored all the same was not confirmed; undefined when nothing was
 * stored. `withId`: the publish carried an `id` (carriesId), which makes publishing it again safe.
 */
export function publishUnavailableMessage(unconfirmedBecause: string | undefined, withId: boolean): string {
  if (unconfirmedBecause !== undefined) {
    return `The message broker could not confirm the request (${unconfirmedBecause}), so it is not acknowledged; it may have been stored and delivered all the same. ${retryAdvice(withId)}`;
  }
  // An id is claimed before the rooms are written to: a publish refused after its claim stored
  // nothing, but its id may be bound to this body already (another body under it answers 409).
  return withId
    ? 'The message broker is unavailable (unreachable, or refusing writes for now), so the notification was not stored or delivered. Retry later with the same id and body: it is delivered once (the id may be bound to this body already: another body under it answers 409).'
    : 'The message broker is unavailable (unreachable, or refusing writes for now), so the request was not stored or applied. Retry later; a publish retried with the same id is delivered once.';
}

/**
 * What to do about a publish that may have been delivered. A generated id has no de-duplication
 * record (each would cost Redis a key per room for the history window), so only a caller's id
 * makes a retry safe: the 503 of a publish without one says so rather than promising once.
 */
function retryAdvice(withId: boolean): string {
  return withId
    ? 'Retry later with the same id: it is delivered once.'
    : 'It carried no id, so publishing it again may deliver it twice: give each publish an id (any string unique to it), and a retry with that id is delivered once.';
}

/** Why a write that may have been applied all the same was not confirmed; undefined when nothing was. */
export function unconfirmedBecauseOf(error: BrokerUnavailableError): string | undefined {
  return error.mayHaveApplied ? error.unconfirmedBecause : undefined;
}

/** Whether a publish's body (a request's, or one notification of a batch) carries a caller's `id`. */
export function carriesId(body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as { id?: unknown }).id === 'string';
}
