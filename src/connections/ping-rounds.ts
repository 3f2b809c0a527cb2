/**
 * How a heartbeat's pings are spread over it: the heartbeat is cut into ticks, and each
 * connection is pinged on one tick of every heartbeat (its slot), so every heartbeatMs as
 * section 3 says, but a pod pings about 1/ticksPerBeat of its connections at a time. Pinged all
 * at once, a pod with tens of thousands of connections wrote tens of thousands of frames and
 * read as many pongs in one burst every heartbeat: a stall that every delivery of that moment
 * waited behind (the tail of the cross-pod latency), and a spike of CPU where the pod's other
 * work saw none (Socket.IO's per-socket ping timers spread the same work by themselves).
 */
export interface PingRounds {
  /** How often the heartbeat's timer fires. */
  readonly tickMs: number;
  /** Ticks per heartbeat: a connection's pings are this many ticks apart. */
  readonly ticksPerBeat: number;
}

/** About this many ticks per heartbeat: a 25 s heartbeat ticks every second. */
const TICKS_PER_BEAT = 25;
/** Shortest tick: a short heartbeat (tests, HEARTBEAT_MS=100) is not swept more often than this. */
const MIN_TICK_MS = 25;
/** Longest tick: how late, at most, a silent connection is noticed past its 2 x heartbeatMs. */
const MAX_TICK_MS = 1000;

export function pingRoundsFor(heartbeatMs: number): PingRounds {
  const tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(heartbeatMs / TICKS_PER_BEAT)));
  // Rounded down: pings come a little more often than heartbeatMs when it is not a whole number
  // of ticks, never less often (a client gives up after 2 x heartbeatMs of silence).
  return { tickMs, ticksPerBeat: Math.max(1, Math.floor(heartbeatMs / tickMs)) };
}

let nextSlot = 0;

/**
 * A new connection's slot: connections take slots in turn, so each tick pings about as many as
 * the next. Kept below 2^30 so that it stays a small integer (no heap number per connection).
 */
export function nextPingSlot(): number {
  nextSlot = (nextSlot + 1) & 0x3fffffff;
  return nextSlot;
}
