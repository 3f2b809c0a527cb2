import { Logger } from '@nestjs/common';
import { HeraldCluster, NodeClient, PrimaryNode, boundedCall, slotMapGap, unservedSlots } from './cluster.client';
import type { ClusterDiscovery } from './cluster.discovery';
import { StartAnswers } from './cluster.start-answers';
import type { ClusterSubscriptions } from './cluster.subscriptions';
import { describeError } from './redis.client';
import { REDIS_SCRIPTS } from './redis.scripts';

/** What the health check reads of the connection it serves, and asks of it. */
export interface HealthCheckedConnection {
  closed(): boolean;
  available(): boolean;
  /** Whether a resync runs now: no check starts meanwhile. */
  resyncing(): boolean;
  /** Subscribes every channel again, runs the seams' resync steps, turns available (ClusterRedisConnection.resync). */
  resync(): Promise<void>;
  /** Turns unavailable: calls are refused until a resync. */
  turnUnavailable(): void;
  /** Tells the seams which channels wait for a primary that stopped answering (onChannelsSilent). */
  channelsSilent(silent: (channel: string) => boolean): void;
}

/**
 * The periodic health check of a Cluster: PINGs every primary, tells which ones are silent,
 * has the slot map asked for again when one is (or when a node refused a slot), notices the
 * primaries changing and subscribed slots moving, and resyncs the connection once every primary
 * answers after anything that may have cost messages (`disturb`). Started by the connection's
 * timer, and at once by a call that has to follow a change (ClusterRedisConnection.checkHealthWhile).
 * At start, the primaries that answer as their scripts are loaded are its first look (loadScriptsAtStart).
 */
export class ClusterHealthCheck {
  private check: Promise<void> | undefined;
  /** The primaries (addresses, sorted) as the start found them, then as the last check that found every one answering. */
  private primaries = '';
  private failovers = 0;
  /** Primaries (addresses) that missed the last health check's PING while others answered: servePartly. */
  private silentPrimaries = new Set<string>();
  /** Something happened that may have cost messages: resync once every primary answers. */
  private disturbedNow = false;
  private downSinceMs: number | undefined;

  constructor(
    private readonly discovery: ClusterDiscovery,
    private readonly subscriptions: ClusterSubscriptions,
    private readonly connection: HealthCheckedConnection,
    private readonly settings: { commandTimeoutMs: number },
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {}

  /** The check under way, if any. */
  get running(): Promise<void> | undefined {
    return this.check;
  }

  /** How many times a check found the primaries changed (a failover, a shard added or removed). */
  get failoverCount(): number {
    return this.failovers;
  }

  /** Whether the primary at `address` missed the last check's PING while others answered (or did at start). */
  isSilent(address: string): boolean {
    return this.silentPrimaries.has(address);
  }

  get disturbed(): boolean {
    return this.disturbedNow;
  }

  /** Something happened that may have cost messages (a node reconnecting, a channel that could not follow its slot, a replaced client). */
  disturb(): void {
    this.disturbedNow = true;
  }

  /** The start found the primaries and loaded their scripts: later checks compare with these, and nothing before counts as a disturbance. */
  settleAtStart(): void {
    this.primaries = this.primaryAddresses();
    this.disturbedNow = false;
  }

  /**
   * Loads the scripts on every primary before the pod takes traffic. A primary that does not
   * answer (its shard out, with `cluster-require-full-coverage no`) starts silent, as a running
   * pod's health check would find it: its rooms are refused until it or its replica answers,
   * and the other shards serve (its scripts are sent whole at their first use there). Requiring
   * every primary, a pod started during a one-shard outage (a rollout, a restart) exited and was
   * restarted over and over, while the pods already running served. None answering fails the start.
   * Each connect may take `connectTimeoutMs` (what is left of the start's budget) until one primary
   * answers; from then on the others get REDIS_COMMAND_TIMEOUT_MS after the latest answer
   * (StartAnswers): a frozen primary held the pod unready for the rest of the budget.
   */
  async loadScriptsAtStart(connectTimeoutMs: number): Promise<void> {
    const masters = this.discovery.cluster.masters;
    const answers = new StartAnswers(this.settings.commandTimeoutMs);
    const cluster = this.discovery.cluster;
    const loaded = await Promise.allSettled(masters.map((master) => this.loadScripts(answers.connect(cluster.nodeClient(master), connectTimeoutMs))));
    const failures = loaded.flatMap((outcome, index) => (outcome.status === 'rejected' ? [{ shard: masters[index].address, reason: outcome.reason as unknown }] : []));
    if (failures.length === 0) return;
    if (failures.length === masters.length) throw failures[0].reason;
    this.silentPrimaries = new Set(failures.map((failure) => failure.shard));
    this.logger.warn({
      message: 'A Redis Cluster primary does not answer at start: its rooms wait for it or its replica, the other shards serve',
      shards: [...this.silentPrimaries],
      error: failures.map((failure) => describeError(failure.reason)).join('; '),
    });
  }

  /** Starts a health check unless one (or a resync) is still running. */
  checkHealth(): void {
    if (this.connection.closed() || this.check || this.connection.resyncing()) return;
    this.check = this.runHealthCheck()
      .catch((error: unknown) => this.logger.error({ message: 'Redis Cluster health check failed', error: describeError(error) }))
      .finally(() => {
        this.check = undefined;
      });
  }

  /**
   * PINGs every primary; a silent or unreachable one marks the pod unavailable until all answer.
   * Every step is bounded, so checks never stop: one that hung would leave the pod unready for good.
   */
  private async runHealthCheck(): Promise<void> {
    const cluster = this.discovery.cluster;
    let answered: NodeClient[] = [];
    try {
      const masters = cluster.masters;
      const pings = await Promise.allSettled(masters.map((master) => this.ping(cluster, master)));
      answered = pings.flatMap((ping) => (ping.status === 'fulfilled' ? [ping.value] : []));
      const failed = pings.findIndex((ping) => ping.status === 'rejected');
      if (failed >= 0 && (answered.length === 0 || !this.connection.available())) {
        throw new Error(`${masters[failed].address}: ${describeError((pings[failed] as PromiseRejectedResult).reason)}`);
      }
      if (this.connection.closed()) return;
      if (failed >= 0) {
        await this.servePartly(cluster, masters, pings, answered);
        return;
      }
      this.silentPrimaries.clear();
      if (this.discovery.refusalDue) {
        await this.discovery.refreshRefusedSlots(cluster, answered);
        // A replaced client is looked at by the next check.
        if (cluster !== this.discovery.cluster || this.connection.closed()) return;
      }
      const unserved = unservedSlots(cluster);
      if (unserved > 0) throw new Error(slotMapGap(unserved));
      const primaries = this.primaryAddresses();
      if (primaries !== this.primaries) {
        this.failovers++;
        this.logger.warn({ message: 'Redis Cluster primaries changed', before: this.primaries, after: primaries });
        this.primaries = primaries;
        this.disturbedNow = true;
        await Promise.all(cluster.masters.map((master) => this.loadScripts(boundedCall('connect', cluster.nodeClient(master), this.settings.commandTimeoutMs))));
      }
      const moved = this.subscriptions.moved();
      if (moved > 0) {
        // A slot migrated (resharding): node-redis follows it, but what was published meanwhile
        // reached no one here.
        this.logger.warn({ message: 'Slots of subscribed rooms moved to another primary', rooms: moved });
        this.disturbedNow = true;
      }
      if ((this.disturbedNow || !this.connection.available()) && !this.connection.closed()) {
        this.disturbedNow = false;
        // Only after an outage: a disturbance while available (a slot moved) has no down time.
        const downMs = this.connection.available() || this.downSinceMs === undefined ? undefined : Date.now() - this.downSinceMs;
        this.logger.log({ message: 'Every Redis Cluster primary answers; resubscribing rooms and catching up', downMs, rooms: this.subscriptions.count });
        await this.connection.resync();
      }
    } catch (error) {
      if (this.connection.closed()) return;
      this.markDown(`a primary did not answer: ${describeError(error)}`);
      // A dead primary's slots move to its replica: asking the cluster for the slot map again
      // is what node-redis does on MOVED; a PING to a dead or silent node never sees one.
      this.disturbedNow = true;
      await this.discovery.refreshSlots(cluster, answered);
    }
  }

  /**
   * Some primaries answered the health check's PING and some did not: the pod stays available,
   * and only the rooms of the silent ones wait. Every shard stops alone in Redis Cluster (a
   * stopped process, a paused VM, a partition), and until its replica takes over (about
   * cluster-node-timeout) or it answers again, the other shards' rooms go on delivering and
   * taking publishes; calls to the silent shard fail within REDIS_COMMAND_TIMEOUT_MS (a publish
   * is 503, a join `unavailable`). Its rooms hold what arrives live (onChannelsSilent), and the
   * resync once every primary answers catches them up. Only from a whole connection: after an
   * outage of all of them, the pod turns available once every primary answers (resync).
   */
  private async servePartly(cluster: HeraldCluster, masters: PrimaryNode[], pings: PromiseSettledResult<NodeClient>[], answered: NodeClient[]): Promise<void> {
    const silent = masters.filter((_, index) => pings[index].status === 'rejected').map((master) => master.address);
    const newly = silent.filter((address) => !this.silentPrimaries.has(address));
    this.silentPrimaries = new Set(silent);
    if (newly.length > 0) {
      const reasons = masters.flatMap((master, index) => (newly.includes(master.address) ? [describeError((pings[index] as PromiseRejectedResult).reason)] : []));
      this.logger.warn({ message: 'A Redis Cluster primary does not answer: its rooms wait for it or its replica, the other shards serve on', shards: newly, error: reasons.join('; ') });
      const stopped = new Set(newly);
      this.connection.channelsSilent((channel) => stopped.has(this.discovery.ownerOf(channel) ?? ''));
    }
    // A dead primary's slots move to its replica: asked again (refreshSlots), the slot map tells.
    this.disturbedNow = true;
    await this.discovery.refreshSlots(cluster, answered);
  }

  /** PINGs one primary: resolves with its client, which has just shown that it answers. */
  private ping(cluster: HeraldCluster, master: PrimaryNode): Promise<NodeClient> {
    // Bounded as a whole: a node client still connecting to a silent primary never settles.
    return boundedCall(
      'PING',
      cluster.nodeClient(master).then(async (client) => {
        await client.ping();
        return client;
      }),
      this.settings.commandTimeoutMs,
    );
  }

  /** Every script loaded on one primary, once its client has connected (`connected`, bounded by the caller). */
  private async loadScripts(connected: Promise<NodeClient>): Promise<void> {
    const client = await connected;
    await Promise.all(Object.values(REDIS_SCRIPTS).map((script) => boundedCall('SCRIPT LOAD', client.scriptLoad(script.SCRIPT), this.settings.commandTimeoutMs)));
  }

  private primaryAddresses(): string {
    return this.discovery.cluster.masters
      .map((master) => master.address)
      .sort()
      .join(',');
  }

  private markDown(reason: string): void {
    if (!this.connection.available()) return;
    this.downSinceMs = Date.now();
    this.logger.warn({ message: 'Redis Cluster unavailable', reason });
    this.connection.turnUnavailable();
  }
}
