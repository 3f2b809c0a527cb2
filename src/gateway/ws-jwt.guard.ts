import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Connection } from '../connections/connection';
import { frameOriginOf } from './frame-context';

/**
 * Runs on every message handler: the token was checked at the handshake (guards never run on
 * handleConnection), but it may have expired since. Such a connection is closed with 4001.
 */
@Injectable()
export class WsJwtGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const connection = frameOriginOf(context)?.connection;
    return connection !== undefined && mayHandleFrameOf(connection, Date.now());
  }
}

/** The guard's check, for the frames the FrameDispatcher hands to their handler itself. */
export function mayHandleFrameOf(connection: Connection, nowMs: number): boolean {
  return connection.state !== 'closing' && !connection.closeIfExpired(nowMs);
}
