import { Injectable } from '@nestjs/common';
import { ErrorCode, ErrorData, FrameId, ServerEventName, ServerEvents } from '@herald/client/protocol';
import { Connection } from '../connections/connection';
import { serverFrame } from '../connections/server-frame';
import { MetricsService } from '../metrics/metrics.service';
import { boundedMessage, jsonTextLength } from '../parsing/json-text-length';

/**
 * Sends server frames to one connection (welcome, replies, errors), typed by the shared
 * protocol's ServerEvents, serialized and counted in one place. Broadcasts do not come here:
 * the hub writes one prepared frame to every member (ConnectionHub.deliver).
 */
@Injectable()
export class FrameSender {
  constructor(private readonly metrics: MetricsService) {}

  send<E extends ServerEventName>(connection: Connection, event: E, data: ServerEvents[E], id?: FrameId): void {
    this.metrics.framesOut.inc(event);
    connection.send(serverFrame(event, data, id));
  }

  /**
   * An `error` frame, echoing the frame's event when it is a name a client could have meant
   * (ERROR_EVENT_MAX_CHARS) and bounding the message, which may quote what the client sent: a
   * 64 KB event or field name came back in full, twice for an unknown event, so a client's burst
   * of frames made twice its size in errors.
   */
  error(connection: Connection, code: ErrorCode, message: string, event: string | undefined, id?: FrameId): void {
    this.send(connection, 'error', errorData(code, message, event), id);
  }
}

/**
 * An error frame's `event` is echoed only while it is this long or shorter as JSON writes it:
 * every event of the contract is far shorter.
 */
export const ERROR_EVENT_MAX_CHARS = 64;

/**
 * An error's data, its echoes bounded as written on the wire: counted in characters, a name of
 * control characters or quotes (each written as `\u0001` or `\"`) came back several times longer
 * than the bound, twice for an unknown event (in `event` and in `message`).
 */
export function errorData(code: ErrorCode, message: string, event: string | undefined): ErrorData {
  const bounded = boundedMessage(message);
  return event === undefined || jsonTextLength(event, ERROR_EVENT_MAX_CHARS + 1) > ERROR_EVENT_MAX_CHARS ? { code, message: bounded } : { code, message: bounded, event };
}
