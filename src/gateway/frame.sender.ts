import { Injectable } from '@nestjs/common';
import { ErrorCode, ErrorData, FrameId, ServerEventName, ServerEvents } from '@herald/client/protocol';
import { Connection } from '../connections/connection';
import { serverFrame } from '../connections/server-frame';
import { MetricsService } from '../metrics/metrics.service';

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
    const bounded = boundedText(message, ERROR_MESSAGE_MAX_CHARS);
    const data: ErrorData = event === undefined || event.length > ERROR_EVENT_MAX_CHARS ? { code, message: bounded } : { code, message: bounded, event };
    this.send(connection, 'error', data, id);
  }
}

/** An error frame's `event` is echoed only up to this length: every event of the contract is far shorter. */
export const ERROR_EVENT_MAX_CHARS = 64;
/** An error frame's `message` is cut to this many characters. */
export const ERROR_MESSAGE_MAX_CHARS = 500;

/** `text`, or its first `max` characters and an ellipsis, never splitting a surrogate pair. */
function boundedText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, cut)}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
