import { HeraldConfig } from '../config/herald.config';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from '../rooms/rooms.service';
import { DrainService } from './drain.service';

const WORK_PER_CLOSE_MS = 0.5;

/** A drain whose clock also counts the time its closes take (WORK_PER_CLOSE_MS each). */
class BusyDrain extends DrainService {
  workMs = 0;
  protected now(): number {
    return performance.now() + this.workMs;
  }
}

function drainOf(connectionCount: number, drainSpreadMs: number) {
  const closedAt: number[] = [];
  const open = new Set<number>();
  let drain: BusyDrain;
  const connections = Array.from({ length: connectionCount }, (_, index) => {
    open.add(index);
    return {
      close: () => {
        closedAt.push(performance.now() + drain.workMs);
        drain.workMs += WORK_PER_CLOSE_MS;
        open.delete(index);
      },
    };
  });
  const hub = { all: () => connections.values(), get size() { return open.size; } } as unknown as ConnectionHub;
  const config = { drainDelayMs: 0, drainSpreadMs, closeTimeoutMs: 1000 } as HeraldConfig;
  const metrics = { drains: { inc: () => undefined } } as unknown as MetricsService;
  const rooms = { departed: async () => undefined } as unknown as RoomsService;
  drain = new BusyDrain(hub, config, metrics, rooms);
  return { drain, closedAt };
}

describe('DrainService', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('closes the last connection DRAIN_SPREAD_MS after the first, however long the closes take', async () => {
    // 1,000 closes of 0.5 ms each are half a second of work: a step slept after each batch stretched 1 s to 1.5 s.
    const { drain, closedAt } = drainOf(1000, 1000);
    const drained = drain.drain();
    await jest.advanceTimersByTimeAsync(5000);
    await drained;
    expect(closedAt).toHaveLength(1000);
    const spreadMs = closedAt.at(-1)! - closedAt[0];
    // The last batch starts at 1 s (and closes its own ten within it), never later.
    expect(spreadMs).toBeGreaterThanOrEqual(1000);
    expect(spreadMs).toBeLessThanOrEqual(1000 + 10 * WORK_PER_CLOSE_MS);
  });

  it.each([
    [201, 2000],
    [301, 1000],
    [999, 5000],
    [7, 1000],
  ])('spreads %i closes over the whole DRAIN_SPREAD_MS of %i ms, whatever the batch size rounds to', async (count, spreadMs) => {
    const { drain, closedAt } = drainOf(count, spreadMs);
    const drained = drain.drain();
    await jest.advanceTimersByTimeAsync(spreadMs + 5000);
    await drained;
    expect(closedAt).toHaveLength(count);
    const lastMs = closedAt.at(-1)! - closedAt[0];
    expect(lastMs).toBeGreaterThanOrEqual(spreadMs);
    expect(lastMs).toBeLessThanOrEqual(spreadMs + count * WORK_PER_CLOSE_MS);
  });

  it('spreads the closes evenly: a second of it closes about a hundredth of them per 10 ms', async () => {
    const { drain, closedAt } = drainOf(500, 1000);
    const drained = drain.drain();
    await jest.advanceTimersByTimeAsync(5000);
    await drained;
    const firstHalf = closedAt.filter((at) => at - closedAt[0] < 500).length;
    expect(firstHalf).toBeGreaterThan(200);
    expect(firstHalf).toBeLessThan(300);
  });
});
