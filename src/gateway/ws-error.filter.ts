import { ArgumentsHost, BadRequestException, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { ERROR_CODES, ErrorCode, ErrorData } from '@herald/client/protocol';
import { BROKER_UNAVAILABLE_FOR_CLIENTS, BrokerUnavailableError } from '../broker/broker';
import { RoomError } from '../rooms/rooms.errors';
import { FrameSender } from './frame.sender';
import { FrameOrigin, frameOriginOf } from './frame-context';

/**
 * Turns every failure of a message handler into an `error` frame that echoes the client's id.
 * Nest's default filter `emit`s, which a raw ws socket ignores.
 */
@Catch()
export class WsErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(WsErrorFilter.name);

  constructor(private readonly frames: FrameSender) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const origin = frameOriginOf(host);
    const event = host.switchToWs().getPattern() as string | undefined;
    if (!origin) {
      // Only a frame that bypassed the FrameDispatcher could get here: nobody to answer.
      this.logger.error({ message: 'Handler failed for a frame of unknown origin', event, error: exception instanceof Error ? exception.stack : String(exception) });
      return;
    }
    this.answer(exception, origin, event);
  }

  /** Answers a failed frame with its `error` frame; also for frames the FrameDispatcher handles itself. */
  answer(exception: unknown, origin: FrameOrigin, event: string | undefined): void {
    const { code, message } = this.toErrorData(exception, event);
    this.frames.error(origin.connection, code, message, event, origin.id);
  }

  /** The code and message; FrameSender.error adds the event. */
  private toErrorData(exception: unknown, event: string | undefined): Pick<ErrorData, 'code' | 'message'> {
    if (exception instanceof RoomError) return { code: exception.code, message: exception.message };
    if (exception instanceof BrokerUnavailableError) return { code: 'unavailable', message: unavailableMessage(exception, event) };
    if (exception instanceof BadRequestException) {
      // The global ValidationPipe validates message DTOs too; its messages name the fields.
      const { message } = exception.getResponse() as { message?: string | string[] };
      return { code: 'bad_request', message: Array.isArray(message) ? message.join('; ') : (message ?? 'Invalid data') };
    }
    if (exception instanceof WsException) {
      const error = exception.getError();
      if (typeof error === 'object' && error !== null && 'code' in error && ERROR_CODES.includes((error as ErrorData).code)) {
        return { code: (error as ErrorData).code, message: String((error as ErrorData).message) };
      }
      // Guards that return false throw a plain WsException('Forbidden resource').
      return { code: 'forbidden', message: typeof error === 'string' ? error : 'Forbidden' };
    }
    this.logger.error({ message: 'Message handler failed', event, error: exception instanceof Error ? exception.stack : String(exception) });
    return { code: 'internal', message: 'Internal error' };
  }
}

/** A WsException carrying a contract error code. */
export function wsError(code: ErrorCode, message: string): WsException {
  return new WsException({ code, message });
}

/**
 * `unavailable` in words for clients. A chat message Redis stored and could not confirm (too
 * few replicas in time, no answer) may reach the room all the same, and it carries no id a
 * retry could be recognised by: "unreachable; try again" invited a second copy.
 */
function unavailableMessage(error: BrokerUnavailableError, event: string | undefined): string {
  if (event !== 'message' || !error.mayHaveApplied) return BROKER_UNAVAILABLE_FOR_CLIENTS;
  return `The message broker could not confirm the message (${error.unconfirmedBecause}); it may have reached the room all the same: look for it before sending it again`;
}
