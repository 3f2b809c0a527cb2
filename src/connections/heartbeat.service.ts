import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HeraldConfig } from '../config/herald.config';
import { ConnectionRegistry } from './connection.registry';
import { PreparedFrame } from './prepared-frame';

/** Sent to every connection each heartbeat: framed once, like any broadcast. */
const PING_FRAME = new PreparedFrame('{"event":"ping"}');

/**
 * Liveness (section 3) and token expiry with one timer for the whole pod rather than one per
 * socket: every heartbeatMs a protocol ping and a `ping` frame; a connection silent for
 * 2 x heartbeatMs is terminated; a connection whose token expired unrefreshed is closed with
 * 4001 (a frame sent after expiry is caught at once by WsJwtGuard). The sweep runs four times
 * per heartbeat, so neither is ever more than a quarter heartbeat late.
 */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private lastPingMs = 0;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly config: HeraldConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.lastPingMs = Date.now();
    this.timer = setInterval(() => this.sweep(), Math.max(25, Math.floor(this.config.heartbeatMs / 4)));
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = Date.now();
    const silenceLimitMs = 2 * this.config.heartbeatMs;
    const pingDue = now - this.lastPingMs >= this.config.heartbeatMs;
    if (pingDue) this.lastPingMs = now;
    for (const connection of this.registry.all()) {
      // Closed, or paused: still being admitted, so its first frame must be `welcome`, and it
      // cannot have answered a ping yet (the broker's own timeouts bound how long that lasts).
      if (connection.closed || connection.socket.isPaused) continue;
      if (now - connection.lastSeenMs > silenceLimitMs) {
        // 'close' still fires, and cleans the connection up everywhere.
        connection.terminate();
        continue;
      }
      if (connection.closeIfExpired(now)) continue;
      if (pingDue) {
        connection.socket.ping();
        connection.send(PING_FRAME);
      }
    }
  }
}
