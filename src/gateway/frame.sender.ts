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

  error(connection: Connection, code: ErrorCode, message: string, event: string | undefined, id?: FrameId): void {
    const data: ErrorData = event === undefined ? { code, message } : { code, message, event };
    this.send(connection, 'error', data, id);
  }
}
