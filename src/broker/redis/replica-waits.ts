import type { Logger } from '@nestjs/common';
import { ReplicasUnavailableError } from './redis.connection';

/** How often, at most, a connection logs that it refuses writes for want of replicas. */
const SHORTFALL_LOG_EVERY_MS = 10_000;

/**
 * A connection's writes refused for want of replicas: counted (its metric) and logged, one
 * warning at most every SHORTFALL_LOG_EVERY_MS with how many were refused since the last. A
 * primary with fewer replicas than REDIS_MIN_REPLICAS (a replica lost, or the setting above what
 * the servers have) answers every publish 503, and the log said nothing of why.
 */
export class ReplicaRefusals {
  private lastLineMs = Number.NEGATIVE_INFINITY;
  private unlogged = 0;

  constructor(
    private readonly logger: Logger,
    /** REDIS_MIN_REPLICAS. */
    private readonly wanted: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A write only `replicas` replicas acknowledged in time (ReplicaWaits' onRefused). */
  readonly refused = (replicas: number): void => {
    this.unlogged++;
    const now = this.now();
    if (now - this.lastLineMs < SHORTFALL_LOG_EVERY_MS) return;
    this.logger.warn({
      message: 'Publishes answered 503: fewer replicas acknowledged them in time than REDIS_MIN_REPLICAS (REDIS_REPLICA_WAIT_MS); a primary with fewer replicas refuses every publish',
      replicas,
      minReplicas: this.wanted,
      refused: this.unlogged,
    });
    this.lastLineMs = now;
    this.unlogged = 0;
  };
}

/**
 * Durable writes on one connection to a primary, each acknowledged by REDIS_MIN_REPLICAS
 * replicas (WAIT) before it counts as stored, without letting WAITs pile up on the connection.
 *
 * WAIT holds the connection it is sent on: Redis reads nothing more from it until the WAIT
 * returns, and with a replica missing each one lasts REDIS_REPLICA_WAIT_MS. With a WAIT after
 * every write, ten concurrent publishes made the last wait for the nine WAITs before its own
 * (11 s instead of 1 s), and every other call of the pod on that connection (joins, presence,
 * the inbox, a Cluster's health PINGs) waited behind them all. One WAIT at a time instead: it
 * covers every write the connection sent before it, so the writes answered while one is out
 * share the next one, and the connection is held at most one wait period at a time.
 *
 * And none while the primary has fewer replicas connected than wanted: at first, and after a
 * WAIT that came back short, the next asks ROLE first (`connectedReplicas`), which answers at once, and a WAIT
 * that cannot be met (only a connected replica acknowledges) is not sent. With its replica gone
 * (a failover's new primary, until the old one comes back) every call on the connection had
 * waited behind a WAIT of a whole period: a catch-up's history reads after a Cluster failover
 * took two seconds, in which a busy room's new life outgrew its history and its members were
 * told to recover, and every publish took up to two periods to be refused.
 */
export class ReplicaWaits {
  /** The WAIT out now. */
  private waiting: Promise<number> | undefined;
  /** The WAIT to send once the one out returns, for every write answered meanwhile. */
  private next: Promise<number> | undefined;
  /**
   * The last WAIT found fewer replicas than wanted, or none was sent yet: the next asks ROLE
   * first. A new connection's first, too: a failover's new primary has lost its replica, and one
   * WAIT of a whole period held the catch-up's reads that follow the failover.
   */
  private short = true;

  /**
   * `sendWait`: sends WAIT on the writes' connection and resolves with how many replicas
   * acknowledged within REDIS_REPLICA_WAIT_MS (bounded in time by the caller). `onRefused`: told
   * of each write refused for want of replicas, with how many acknowledged it (the connection's
   * metric and log: ReplicaRefusals.refused). `connectedReplicas`: how many replicas the primary lists now
   * (ROLE, replicasListed); undefined, or a failure, and WAIT decides.
   */
  constructor(
    private readonly wanted: number,
    private readonly sendWait: () => Promise<number>,
    private readonly onRefused: (replicas: number) => void,
    private readonly connectedReplicas?: () => Promise<number | undefined>,
  ) {}

  /**
   * Runs `write` and resolves with its reply once enough replicas acknowledged it. Rejects with
   * ReplicasUnavailableError when they did not in time (the write may have been stored and
   * delivered all the same), or with what `write` or WAIT failed with.
   */
  async write<T>(operation: string, write: () => Promise<T>): Promise<T> {
    const reply = await write();
    const replicas = await this.acknowledgements();
    if (replicas >= this.wanted) return reply;
    this.onRefused(replicas);
    throw new ReplicasUnavailableError(operation, replicas, this.wanted);
  }

  /**
   * The replicas that acknowledged the next WAIT: sent once the one out (if any) has returned,
   * in the check phase, so that every write answered until then (those answered in the same
   * read included) has joined it. Only that next WAIT is sure to have been sent after the
   * caller's write was answered. Sent at once instead, by the first write of a read, a WAIT left
   * the other writes of that read to the WAIT after it, and that one in turn was sent by a
   * newer write first: with a replica missing, writes kept coming and the older ones waited
   * until they stopped (10 s and more at 10 publishes a second, where one wait is 1 s).
   */
  private acknowledgements(): Promise<number> {
    this.next ??= (this.waiting ?? Promise.resolve(0))
      .catch(() => undefined)
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        this.next = undefined;
        const waiting: Promise<number> = this.count().finally(() => {
          if (this.waiting === waiting) this.waiting = undefined;
        });
        this.waiting = waiting;
        return waiting;
      });
    return this.next;
  }

  /** How many replicas acknowledged: WAIT's answer, or the replicas ROLE lists when too few for WAIT to be met. */
  private async count(): Promise<number> {
    if (this.short && this.connectedReplicas) {
      const connected = await this.connectedReplicas().catch(() => undefined);
      if (connected !== undefined && connected < this.wanted) return connected;
    }
    const acknowledged = await this.sendWait();
    this.short = acknowledged < this.wanted;
    return acknowledged;
  }
}

/** The replicas a primary's ROLE reply lists (`["master", offset, [[ip, port, offset], ...]]`); undefined from anything else. */
export function replicasListed(role: unknown): number | undefined {
  return Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : undefined;
}
