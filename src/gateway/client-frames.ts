import { Injectable } from '@nestjs/common';
import { ErrorCode, ErrorData, FrameId } from '@herald/client/protocol';
import { Connection } from '../connections/connection';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Frames sent to one connection (welcome, replies, errors), serialized and counted in one
 * place. Broadcasts do not come here: the registry writes one prepared frame to every member.
 */
@Injectable()
export class ClientFrames {
  constructor(private readonly metrics: MetricsService) {}

  send(connection: Connection, event: string, data: unknown, id?: FrameId): void {
    this.metrics.framesOut.inc({ event });
    connection.send(JSON.stringify(id === undefined ? { event, data } : { event, data, id }));
  }

  error(connection: Connection, code: ErrorCode, message: string, event: string | undefined, id?: FrameId): void {
    const data: ErrorData = event === undefined ? { code, message } : { code, message, event };
    this.send(connection, 'error', data, id);
  }
}
