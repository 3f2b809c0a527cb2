import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { frameOriginOf } from './frame-context';

/**
 * Runs on every message handler: the token was checked at the handshake (guards never run on
 * handleConnection), but it may have expired since. Such a connection is closed with 4001.
 */
@Injectable()
export class WsJwtGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const connection = frameOriginOf(context)?.connection;
    if (!connection || connection.state === 'closing') return false;
    return !connection.closeIfExpired(Date.now());
  }
}
