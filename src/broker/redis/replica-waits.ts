import { ReplicasMissingError, ReplicasUnavailableError } from './redis.connection';

/**
 * Durable writes on one connection to a primary, each acknowledged by REDIS_MIN_REPLICAS
 * replicas (WAIT) before it counts as stored, without letting WAITs pile up on the connection.
 *
 * WAIT holds the connection it is sent on: Redis reads nothing more from it until the WAIT
 * returns, and with a replica missing each one lasts REDIS_REPLICA_WAIT_MS. With a WAIT after
 * every write, ten concurrent publishes made the last wait for the nine WAITs before its own
 * (11 s instead of 1 s), and every other call of the pod on that connection (joins, presence,
 * the inbox, a Cluster's health PINGs) waited behind them all. So:
 * - One WAIT at a time: it covers every write the connection sent before it, so the writes
 *   that finish while one is out share the next one.
 * - A short WAIT shuts the gate: later writes are refused before they are written (503, nothing
 *   stored, a retry is safe), except one at a time, at most one per REDIS_REPLICA_WAIT_MS, which
 *   is written and waited for as a probe. An acknowledged WAIT opens the gate again.
 */
export class ReplicaWaits {
  private shut = false;
  private probing = false;
  private nextProbeAtMs = 0;
  private waiting: Promise<number> | undefined;
  private nextWait: Promise<number> | undefined;
  /** Writes refused for want of replicas, before or after writing them. */
  refused = 0;

  /**
   * `sendWait`: sends WAIT on the writes' connection and resolves with how many replicas
   * acknowledged within REDIS_REPLICA_WAIT_MS (bounded in time by the caller).
   */
  constructor(
    private readonly wanted: number,
    private readonly replicaWaitMs: number,
    private readonly sendWait: () => Promise<number>,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /**
   * Runs `write` and resolves with its reply once enough replicas acknowledged it. Rejects with
   * ReplicasMissingError when refused unwritten, ReplicasUnavailableError when written but not
   * acknowledged in time (it may have been stored), or with what `write` or WAIT failed with.
   */
  async write<T>(operation: string, write: () => Promise<T>): Promise<T> {
    const probe = this.shut;
    if (probe && (this.probing || this.nowMs() < this.nextProbeAtMs)) {
      this.refused++;
      throw new ReplicasMissingError(operation, this.wanted);
    }
    if (probe) this.probing = true;
    let acknowledged: boolean | undefined;
    try {
      const reply = await write();
      const replicas = await this.acknowledgements();
      acknowledged = replicas >= this.wanted;
      if (acknowledged) return reply;
      this.refused++;
      throw new ReplicasUnavailableError(operation, replicas, this.wanted);
    } finally {
      if (probe) this.probing = false;
      // Anything else that failed says nothing of the replicas.
      if (acknowledged === true) this.shut = false;
      else if (acknowledged === false) {
        this.shut = true;
        this.nextProbeAtMs = this.nowMs() + this.replicaWaitMs;
      }
    }
  }

  /** Whether writes are refused unwritten now. */
  get isShut(): boolean {
    return this.shut;
  }

  /** The replicas that acknowledged a WAIT sent after the caller's write was answered. */
  private acknowledgements(): Promise<number> {
    if (!this.waiting) {
      const waiting = this.sendWait().finally(() => {
        if (this.waiting === waiting) this.waiting = undefined;
      });
      this.waiting = waiting;
      return waiting;
    }
    // The WAIT out now may have been sent before this write: the next one covers it. Sent in the
    // check phase after the current one returns, once the writes queued behind it on the
    // connection (answered in the same read) have joined it too.
    this.nextWait ??= this.waiting
      .catch(() => undefined)
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        this.nextWait = undefined;
        return this.acknowledgements();
      });
    return this.nextWait;
  }
}
