import fc from 'fast-check';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from './connection';
import { ConnectionHub } from './connection.hub';
import { HeartbeatService } from './heartbeat.service';
import { nextPingSlot, pingRoundsFor } from './ping-rounds';

/** A connection as the heartbeat sees it: state, last frame, slot, and a socket that records pings. */
interface FakeConnection {
  state: 'admitting' | 'open' | 'closing';
  lastSeenMs: number;
  readonly pingSlot: number;
  readonly pingedAtMs: number[];
  readonly frames: number;
  terminated: boolean;
}

function fakeConnection(state: FakeConnection['state'] = 'open'): FakeConnection {
  const stream = { writableCorked: 0, cork: () => stream.writableCorked++, uncork: () => stream.writableCorked-- };
  const connection = {
    state,
    lastSeenMs: Date.now(),
    pingSlot: nextPingSlot(),
    pingedAtMs: [] as number[],
    frames: 0,
    terminated: false,
    socket: { _socket: stream, ping: () => connection.pingedAtMs.push(Date.now()) },
    send: () => {
      connection.frames++;
      return true;
    },
    terminate: () => {
      connection.terminated = true;
    },
  };
  return connection;
}

function heartbeatOver(connections: FakeConnection[], heartbeatMs: number): HeartbeatService {
  const hub = { all: () => connections.values(), closeExpired: () => undefined } as unknown as ConnectionHub;
  return new HeartbeatService(hub, { heartbeatMs } as HeraldConfig);
}

describe('pingRoundsFor', () => {
  it('ticks every second on the default 25 s heartbeat, and every 25 ms at most on a short one', () => {
    expect(pingRoundsFor(25_000)).toEqual({ tickMs: 1000, ticksPerBeat: 25 });
    expect(pingRoundsFor(60_000)).toEqual({ tickMs: 1000, ticksPerBeat: 60 });
    expect(pingRoundsFor(600)).toEqual({ tickMs: 25, ticksPerBeat: 24 });
    expect(pingRoundsFor(100)).toEqual({ tickMs: 25, ticksPerBeat: 4 });
  });

  it('never spaces pings further apart than heartbeatMs, nor closer than a tick less', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 3_600_000 }), (heartbeatMs) => {
        const { tickMs, ticksPerBeat } = pingRoundsFor(heartbeatMs);
        const pingEveryMs = tickMs * ticksPerBeat;
        return pingEveryMs <= heartbeatMs && pingEveryMs > heartbeatMs - tickMs && tickMs <= 1000;
      }),
    );
  });
});

describe('HeartbeatService', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('pings every open connection once per heartbeat, a slice of them on each tick, each heartbeatMs apart', () => {
    const HEARTBEAT_MS = 25_000;
    const open = Array.from({ length: 100 }, () => fakeConnection());
    const admitting = fakeConnection('admitting');
    const service = heartbeatOver([...open, admitting], HEARTBEAT_MS);
    service.onApplicationBootstrap();
    const pingsPerTick: number[] = [];
    for (let tick = 0; tick < 3 * 25; tick++) {
      const before = open.reduce((sum, connection) => sum + connection.pingedAtMs.length, 0);
      // Every client answers: none of them is silent.
      for (const connection of open) connection.lastSeenMs = Date.now();
      jest.advanceTimersByTime(1000);
      pingsPerTick.push(open.reduce((sum, connection) => sum + connection.pingedAtMs.length, 0) - before);
    }
    service.onApplicationShutdown();

    // 100 connections over 25 ticks: 4 a tick, never the whole pod at once.
    expect(new Set(pingsPerTick)).toEqual(new Set([4]));
    for (const connection of open) {
      expect(connection.pingedAtMs).toHaveLength(3);
      expect(connection.frames).toBe(3);
      expect(connection.pingedAtMs[1] - connection.pingedAtMs[0]).toBe(HEARTBEAT_MS);
      expect(connection.pingedAtMs[2] - connection.pingedAtMs[1]).toBe(HEARTBEAT_MS);
    }
    // Still being admitted: its first frame must be `welcome`.
    expect(admitting.pingedAtMs).toEqual([]);
  });

  it('terminates a connection silent for 2 x heartbeatMs within a tick of it, and keeps one that answers', () => {
    const HEARTBEAT_MS = 25_000;
    const silent = fakeConnection();
    const talking = fakeConnection();
    const service = heartbeatOver([silent, talking], HEARTBEAT_MS);
    service.onApplicationBootstrap();
    const silentSince = Date.now();
    while (!silent.terminated && Date.now() - silentSince < 3 * HEARTBEAT_MS) {
      talking.lastSeenMs = Date.now();
      jest.advanceTimersByTime(100);
    }
    service.onApplicationShutdown();
    expect(silent.terminated).toBe(true);
    const terminatedAfterMs = Date.now() - silentSince;
    expect(terminatedAfterMs).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(terminatedAfterMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 1000 + 100);
    expect(talking.terminated).toBe(false);
  });

  it("does not drop idle clients for the silence this pod's own stall caused, and drops a dead one after 2 x heartbeatMs of its running time", () => {
    const HEARTBEAT_MS = 5_000;
    const { tickMs } = pingRoundsFor(HEARTBEAT_MS);
    const answering = Array.from({ length: 10 }, () => fakeConnection());
    const dead = fakeConnection();
    const service = heartbeatOver([...answering, dead], HEARTBEAT_MS);
    service.onApplicationBootstrap();
    const answer = () => {
      for (const connection of answering) if (connection.pingedAtMs.length > 0) connection.lastSeenMs = connection.pingedAtMs.at(-1)!;
    };
    // A heartbeat of normal life: everyone answered a ping, but the dead one.
    for (let elapsed = 0; elapsed < HEARTBEAT_MS; elapsed += tickMs) {
      jest.advanceTimersByTime(tickMs);
      answer();
    }
    // The pod freezes for longer than the silence limit: no sweep, no ping, no pong.
    jest.setSystemTime(Date.now() + 3 * HEARTBEAT_MS);
    const thawedAt = Date.now();
    let deadDroppedAfterMs: number | undefined;
    while (Date.now() - thawedAt < 2 * HEARTBEAT_MS) {
      jest.advanceTimersByTime(tickMs);
      answer();
      if (dead.terminated) deadDroppedAfterMs ??= Date.now() - thawedAt;
    }
    service.onApplicationShutdown();
    // Every live client was pinged again after the thaw, answered, and stayed.
    expect(answering.filter((connection) => connection.terminated)).toEqual([]);
    for (const connection of answering) expect(connection.pingedAtMs.some((at) => at > thawedAt)).toBe(true);
    // The dead one had been silent for a heartbeat of running time before the freeze: another after it.
    expect(deadDroppedAfterMs).toBeGreaterThan(HEARTBEAT_MS - 2 * tickMs);
    expect(deadDroppedAfterMs).toBeLessThanOrEqual(HEARTBEAT_MS + 2 * tickMs);
  });

  /**
   * A connection that never answers, under a heartbeat whose every sweep runs `lateMs` late:
   * how long the pod ran (its ticks) and how long passed on the clock until it was dropped.
   */
  function dropOfSilentConnection(heartbeatMs: number, lateMs: number): { runningMs: number; wallMs: number } {
    const { tickMs } = pingRoundsFor(heartbeatMs);
    const silent = fakeConnection();
    const service = heartbeatOver([silent], heartbeatMs);
    service.onApplicationBootstrap();
    const silentSince = Date.now();
    let runningMs = 0;
    while (!silent.terminated && runningMs < 5 * heartbeatMs) {
      jest.setSystemTime(Date.now() + lateMs);
      jest.advanceTimersByTime(tickMs);
      runningMs += tickMs;
    }
    service.onApplicationShutdown();
    expect(silent.terminated).toBe(true);
    return { runningMs, wallMs: Date.now() - silentSince };
  }

  it("counts only the pod's running time in a silence: a pod late on every sweep drops a dead client after 2 x heartbeatMs of it", () => {
    const HEARTBEAT_MS = 5_000;
    const { tickMs } = pingRoundsFor(HEARTBEAT_MS);
    // Every sweep half a tick late (a busy event loop): its pings are late by as much.
    const { runningMs, wallMs } = dropOfSilentConnection(HEARTBEAT_MS, tickMs / 2);
    expect(runningMs).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(runningMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 2 * tickMs);
    expect(wallMs).toBeGreaterThan(3 * HEARTBEAT_MS);
  });

  it('takes timer jitter for no stall: a silent connection is dropped within a tick of its 2 x heartbeatMs', () => {
    const HEARTBEAT_MS = 5_000;
    const { tickMs } = pingRoundsFor(HEARTBEAT_MS);
    // Every sweep a twentieth of a tick late.
    const { wallMs } = dropOfSilentConnection(HEARTBEAT_MS, tickMs / 20);
    expect(wallMs).toBeGreaterThan(2 * HEARTBEAT_MS);
    expect(wallMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 2 * tickMs);
  });
});
