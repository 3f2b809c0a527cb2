import { Injectable } from '@nestjs/common';
import { CloseCode } from '@herald/client/protocol';
import { Connection } from './connection';

/** Node's timers overflow past 2^31-1 ms (~24.8 days); longer waits re-arm. */
const MAX_TIMER_MS = 2_147_483_647;

/** Closes a connection with 4001 the moment its token expires unrefreshed (section 2, refresh). */
@Injectable()
export class ExpiryTimers {
  arm(connection: Connection): void {
    clearTimeout(connection.expiryTimer);
    connection.expiryTimer = undefined;
    const { expiresAtMs } = connection.principal;
    if (expiresAtMs === null || connection.closed) return;
    const waitMs = expiresAtMs - Date.now();
    if (waitMs <= 0) {
      connection.close(CloseCode.TokenExpired);
      return;
    }
    connection.expiryTimer = setTimeout(() => this.arm(connection), Math.min(waitMs, MAX_TIMER_MS));
  }

  disarm(connection: Connection): void {
    clearTimeout(connection.expiryTimer);
    connection.expiryTimer = undefined;
  }
}
