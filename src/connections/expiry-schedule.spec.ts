import { Connection } from './connection';
import { ExpirySchedule } from './expiry-schedule';

/** A connection as the schedule sees it: its principal's expiry, and whether it was closed. */
function connectionExpiringAt(expiresAtMs: number | null): Connection & { closedAtMs: number | undefined } {
  const connection = {
    principal: { expiresAtMs },
    closedAtMs: undefined as number | undefined,
    closeIfExpired(nowMs: number) {
      if (connection.principal.expiresAtMs === null || connection.principal.expiresAtMs > nowMs) return false;
      connection.closedAtMs = nowMs;
      return true;
    },
  };
  return connection as unknown as Connection & { closedAtMs: number | undefined };
}

describe('ExpirySchedule', () => {
  it('closes the connections due by now, and only those, each once', () => {
    const schedule = new ExpirySchedule();
    const early = connectionExpiringAt(1_000);
    const alsoEarly = connectionExpiringAt(1_000);
    const late = connectionExpiringAt(5_000);
    const never = connectionExpiringAt(null);
    for (const connection of [early, alsoEarly, late, never]) schedule.file(connection);
    expect(schedule.size).toBe(3);
    schedule.closeExpired(999);
    expect([early, alsoEarly, late].map((connection) => connection.closedAtMs)).toEqual([undefined, undefined, undefined]);
    schedule.closeExpired(1_500);
    expect([early.closedAtMs, alsoEarly.closedAtMs, late.closedAtMs]).toEqual([1_500, 1_500, undefined]);
    expect(schedule.size).toBe(1);
    schedule.closeExpired(1_600);
    expect(early.closedAtMs).toBe(1_500);
    schedule.closeExpired(5_000);
    expect(late.closedAtMs).toBe(5_000);
    expect(never.closedAtMs).toBeUndefined();
    expect(schedule.size).toBe(0);
  });

  it('forgets a connection unfiled before its time (closed, or its token swapped)', () => {
    const schedule = new ExpirySchedule();
    const gone = connectionExpiringAt(1_000);
    const refreshed = connectionExpiringAt(1_000);
    schedule.file(gone);
    schedule.file(refreshed);
    schedule.unfile(gone);
    schedule.unfile(refreshed);
    (refreshed.principal as { expiresAtMs: number }).expiresAtMs = 9_000;
    schedule.file(refreshed);
    schedule.closeExpired(2_000);
    expect(gone.closedAtMs).toBeUndefined();
    expect(refreshed.closedAtMs).toBeUndefined();
    expect(schedule.size).toBe(1);
    schedule.unfile(refreshed);
    expect(schedule.size).toBe(0);
  });
});
