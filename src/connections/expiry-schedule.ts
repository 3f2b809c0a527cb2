import type { Connection } from './connection';

/**
 * Which connections' tokens expire when, so that each is closed with 4001 within a second of
 * its `exp` by one timer for the whole pod (HeartbeatService), looking only at the connections
 * due, rather than by a walk over every connection (the heartbeat once did that, a quarter
 * heartbeat apart, and closed them up to 6 s late by default).
 * Filed by their `exp` (whole seconds, in ms); tokens without one are never due.
 */
export class ExpirySchedule {
  private readonly byExpiry = new Map<number, Set<Connection>>();

  file(connection: Connection): void {
    const expiresAtMs = connection.principal.expiresAtMs;
    if (expiresAtMs === null) return;
    let due = this.byExpiry.get(expiresAtMs);
    if (!due) this.byExpiry.set(expiresAtMs, (due = new Set()));
    due.add(connection);
  }

  /** Before the connection goes, or its token is swapped for another (refresh). */
  unfile(connection: Connection): void {
    const expiresAtMs = connection.principal.expiresAtMs;
    if (expiresAtMs === null) return;
    const due = this.byExpiry.get(expiresAtMs);
    if (due?.delete(connection) && due.size === 0) this.byExpiry.delete(expiresAtMs);
  }

  /** Closes with 4001 every connection whose token has expired by `nowMs`. */
  closeExpired(nowMs: number): void {
    for (const [expiresAtMs, due] of this.byExpiry) {
      if (expiresAtMs > nowMs) continue;
      this.byExpiry.delete(expiresAtMs);
      for (const connection of due) connection.closeIfExpired(nowMs);
    }
  }

  get size(): number {
    let filed = 0;
    for (const due of this.byExpiry.values()) filed += due.size;
    return filed;
  }
}
