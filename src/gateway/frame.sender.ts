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
    this.send(connection, 'error', errorData(code, message, event), id);
  }
}

/**
 * An error frame's `event` is echoed only while it is this long or shorter as JSON writes it:
 * every event of the contract is far shorter.
 */
export const ERROR_EVENT_MAX_CHARS = 64;
/** An error frame's `message` is cut to this many characters as JSON writes it (escapes counted), `…` added. */
export const ERROR_MESSAGE_MAX_CHARS = 500;

/**
 * An error's data, its echoes bounded as written on the wire: counted in characters, a name of
 * control characters or quotes (each written as `\u0001` or `\"`) came back several times longer
 * than the bound, twice for an unknown event (in `event` and in `message`).
 */
export function errorData(code: ErrorCode, message: string, event: string | undefined): ErrorData {
  const bounded = boundedJsonText(message, ERROR_MESSAGE_MAX_CHARS);
  return event === undefined || jsonTextLength(event, ERROR_EVENT_MAX_CHARS + 1) > ERROR_EVENT_MAX_CHARS ? { code, message: bounded } : { code, message: bounded, event };
}

/** `text`, or as much of it as JSON writes in `max` characters and an ellipsis, never splitting a surrogate pair. */
function boundedJsonText(text: string, max: number): string {
  // Most messages are short plain text: no escape can make them reach the bound.
  if (text.length * 6 <= max) return text;
  let written = 0;
  for (let index = 0; index < text.length; index++) {
    const high = isHighSurrogate(text.charCodeAt(index)) && isLowSurrogate(text.charCodeAt(index + 1));
    written += high ? 2 : jsonCharLength(text.charCodeAt(index));
    if (written > max) return `${text.slice(0, index)}…`;
    if (high) index++;
  }
  return text;
}

/** How many characters JSON.stringify writes for `text`, quotes left out, counted up to `stopAt`. */
function jsonTextLength(text: string, stopAt: number): number {
  let written = 0;
  for (let index = 0; index < text.length && written < stopAt; index++) {
    const high = isHighSurrogate(text.charCodeAt(index)) && isLowSurrogate(text.charCodeAt(index + 1));
    written += high ? 2 : jsonCharLength(text.charCodeAt(index));
    if (high) index++;
  }
  return written;
}

/** The characters JSON.stringify writes for one UTF-16 code unit not part of a pair (a lone surrogate is escaped). */
function jsonCharLength(code: number): number {
  if (code === 0x22 || code === 0x5c || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return 2;
  if (code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return 6;
  return 1;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
