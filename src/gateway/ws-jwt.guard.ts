import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { CloseCode } from '@herald/client/protocol';
import { ConnectionRegistry } from '../connections/connection.registry';

/**
 * Runs on every message handler: the token was checked at the handshake (guards never run on
 * handleConnection), but it may have expired since. Such a connection is closed with 4001.
 */
@Injectable()
export class WsJwtGuard implements CanActivate {
  constructor(private readonly registry: ConnectionRegistry) {}

  canActivate(context: ExecutionContext): boolean {
    const connection = this.registry.connectionFor(context.switchToWs().getClient<WebSocket>());
    if (!connection || connection.closed) return false;
    const { expiresAtMs } = connection.principal;
    if (expiresAtMs !== null && expiresAtMs <= Date.now()) {
      connection.close(CloseCode.TokenExpired);
      return false;
    }
    return true;
  }
}
