import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from './connection';
import { ConnectionHub } from './connection.hub';
import { PingRounds, pingRoundsFor } from './ping-rounds';
import { PreparedFrame } from './prepared-frame';
import { serverFrame } from './server-frame';
import { StallLedger } from './stall-ledger';
import { corkForThisTurn } from './turn-cork';
import { streamOf } from './ws.internals';

/** How often tokens that expired are looked for: a connection is closed within this of its `exp`. */
const EXPIRY_CHECK_MS = 1000;

/**
 * How many heartbeats of late sweeps are kept: longer than any silence still judged unless the
 * pod lost more than eight heartbeats within ten (then it judges as if it had lost less).
 */
const STALLS_KEPT_HEARTBEATS = 10;

/** Sent to every connection each heartbeat: framed once, like any broadcast. */
const PING_FRAME = new PreparedFrame(serverFrame('ping', undefined));

/**
 * Liveness (section 3) and token expiry with one timer for the whole pod rather than one per
 * socket: every heartbeatMs a protocol ping and a `ping` frame; a connection silent for
 * 2 x heartbeatMs is terminated; a connection whose token expired unrefreshed is closed with
 * 4001 within a second (ExpirySchedule; a frame sent after expiry is caught at once, by the
 * FrameDispatcher, before any answer). The pings are spread over the heartbeat
 * (PingRounds): each tick pings the connections whose slot it is and looks at every connection's
 * silence, so a silent connection is dropped at most a tick (a second at most) late; the time this
 * pod itself stalled does not count as its clients' silence (see sweep).
 */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly rounds: PingRounds;
  /** The tick of the heartbeat under way, 0 to ticksPerBeat - 1. */
  private tick = 0;
  /** When the last sweep ran, to tell how late the next one is. */
  private lastSweepMs = 0;
  /** How late the sweeps ran: silence this pod caused itself is not its clients' (see sweep). */
  private readonly stalls = new StallLedger();

  constructor(
    private readonly hub: ConnectionHub,
    private readonly config: HeraldConfig,
  ) {
    this.rounds = pingRoundsFor(config.heartbeatMs);
  }

  onApplicationBootstrap(): void {
    this.lastSweepMs = Date.now();
    this.timer = setInterval(() => this.sweep(), this.rounds.tickMs);
    this.expiryTimer = setInterval(() => this.hub.closeExpired(Date.now()), EXPIRY_CHECK_MS);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    clearInterval(this.expiryTimer);
  }

  private sweep(): void {
    const now = Date.now();
    const { heartbeatMs } = this.config;
    const silenceLimitMs = 2 * heartbeatMs;
    const { ticksPerBeat, tickMs } = this.rounds;
    // A late sweep means this pod itself stalled (a long GC, CPU throttled by its cgroup, a
    // paused VM or process, a busy event loop): it sent no pings meanwhile, so its idle clients,
    // which speak only to answer them, had nothing to answer. That time is not counted in their
    // silence (silenceOf): a pod that froze for seconds does not drop its clients when it thaws,
    // and a dead one is still dropped after 2 x heartbeatMs of the pod's own running time.
    // Lateness under a tenth of a tick is timer jitter.
    const lateMs = now - this.lastSweepMs - tickMs;
    if (lateMs > tickMs / 10) this.stalls.record(now, lateMs);
    this.lastSweepMs = now;
    this.stalls.forgetBefore(now - STALLS_KEPT_HEARTBEATS * heartbeatMs);
    this.tick = (this.tick + 1) % ticksPerBeat;
    const tick = this.tick;
    let silent: Connection[] | undefined;
    for (const connection of this.hub.all()) {
      // Closing, or still being admitted: its first frame must be `welcome`, and it cannot have
      // answered a ping yet (the broker's own timeouts bound how long admission lasts).
      if (connection.state !== 'open') continue;
      if (this.silenceOf(connection, now, silenceLimitMs) > silenceLimitMs) {
        (silent ??= []).push(connection);
        continue;
      }
      if (connection.pingSlot % ticksPerBeat === tick) {
        // Both pings leave in one write call: ws would write its protocol ping at once, and the
        // ping frame a write later, at the end of this turn (sendPrepared corks the socket).
        corkForThisTurn(streamOf(connection.socket));
        connection.socket.ping();
        connection.send(PING_FRAME);
      }
    }
    // Judged after the loop has read the sockets (setImmediate runs after the poll phase): when
    // this pod's own event loop stalled (a long GC, CPU throttled by its cgroup, a paused VM),
    // this timer runs before the frames its clients sent meanwhile are read, and would take every
    // one of them for a silent peer and drop them all at once.
    if (silent) setImmediate(() => this.terminateSilent(silent, silenceLimitMs));
  }

  private terminateSilent(candidates: Connection[], silenceLimitMs: number): void {
    const now = Date.now();
    for (const connection of candidates) {
      // 'close' still fires, and cleans the connection up everywhere.
      if (connection.state === 'open' && this.silenceOf(connection, now, silenceLimitMs) > silenceLimitMs) connection.terminate();
    }
  }

  /**
   * How long the connection has said nothing while this pod was running: the time since its last
   * frame, less the time the pod lost since (StallLedger), which is asked only past `limitMs`.
   */
  private silenceOf(connection: Connection, now: number, limitMs: number): number {
    const silentMs = now - connection.lastSeenMs;
    return silentMs > limitMs ? silentMs - this.stalls.lostSince(connection.lastSeenMs) : silentMs;
  }
}
