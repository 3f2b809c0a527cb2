import { Logger } from '@nestjs/common';
import { redactedRedisUrl } from '../../config/redacted-redis-url';
import { BrokerUnavailableError } from '../broker';
import { HeraldCluster, NodeClient, addressText, boundedCall, shutCluster } from './cluster.client';
import { ClusterDiscovery } from './cluster.discovery';
import { ClusterHealthCheck } from './cluster.health-check';
import { ClusterReplicatedWrites } from './cluster.replicated-writes';
import { REDIRECTED, TRY_AGAIN, isReply } from './cluster.replies';
import { ClusterSubscriptions } from './cluster.subscriptions';
import { RECONNECT_DEFAULTS, asCallError, describeError, reconnectBackoffMs } from './redis.client';
import { ClosedWhileStartingError, RedisCommands, RedisConnection, RedisConnectionHealth, ReplicasUnavailableError, StartSettingError } from './redis.connection';
import { SlotTries, SlotTryRules } from './slot-tries';
import { StartTries } from './start-tries';

export interface ClusterConnectionOptions {
  /** REDIS_CLUSTER_NODES: seed URLs; credentials and TLS of the first apply to every node. */
  seeds: string[];
  commandTimeoutMs?: number;
  /** How often every primary is PINGed (default: half the command timeout). */
  healthCheckMs?: number;
  /** REDIS_MIN_REPLICAS and REDIS_REPLICA_WAIT_MS: WAIT after each durable write. */
  minReplicas?: number;
  replicaWaitMs?: number;
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
}

const DEFAULTS = { commandTimeoutMs: 2000, minReplicas: 1, replicaWaitMs: 1000, reconnectMinDelayMs: RECONNECT_DEFAULTS.reconnectMinDelayMs, reconnectMaxDelayMs: RECONNECT_DEFAULTS.reconnectMaxDelayMs };

/**
 * Redis Cluster (7.0+) through node-redis's cluster client.
 *
 * - Every key of a room carries the room's hash tag and so does its channel (RedisKeys with
 *   sharded channels), so each script runs on the one primary that owns the room's slot, and
 *   room traffic is sharded pub/sub: SPUBLISH inside the script, SSUBSCRIBE here. The client
 *   keeps one subscriber connection per primary, not one per room.
 * - node-redis moves sharded subscriptions after slot moves and failovers itself, but says
 *   nothing about what was published meanwhile, and its cluster pub/sub has had bugs. So any
 *   sign of trouble (a node reconnecting, a PING missing its deadline, the set of primaries
 *   changing) marks the connection disturbed; once every primary answers again every channel
 *   is subscribed again (confirmed by the primary that owns it now), the seams' resync steps run, and only then
 *   is the pod available and each room caught up from history (or told `recovery`).
 * - A primary that stops answering without closing its connections (SIGSTOP, a paused VM) must
 *   not hold the pod once its replica serves: the slot map is asked again of a primary that has
 *   just answered, within a deadline, and a node-redis client whose discovery is stuck anyway
 *   is replaced by a fresh one (ClusterDiscovery: refreshSlots, replaceCluster).
 * - A node that refuses a slot the map gives it (CLUSTERDOWN: removed with del-node while still
 *   running) answers PING and redirects nothing: the refusal has the slot map asked for again of
 *   another primary, at a bounded pace, and the change is followed as any other (followRefusal).
 * - Durable writes (`runReplicated`) run on the primary owning the key and are followed by
 *   WAIT on the same connection: fewer acknowledgements than REDIS_MIN_REPLICAS in
 *   REDIS_REPLICA_WAIT_MS is a ReplicasUnavailableError (503).
 *
 * This class decides when a call may run and when the pod resyncs; its parts each keep one
 * concern: the client in use and its slot map (ClusterDiscovery), the subscribed channels
 * (ClusterSubscriptions), the periodic PING of every primary (ClusterHealthCheck), a durable
 * write's WAIT on its primary (ClusterReplicatedWrites), and a call's further tries (SlotTries).
 */
export class ClusterRedisConnection extends RedisConnection {
  private readonly logger = new Logger(ClusterRedisConnection.name);
  private readonly settings: Required<ClusterConnectionOptions>;
  /** The cluster client in use and its slot map: every call reads it anew, as a replacement changes it. */
  private readonly discovery: ClusterDiscovery;
  /** The channels this pod subscribes, and the primary each was subscribed at. */
  private readonly subscriptions: ClusterSubscriptions;
  private isAvailable = false;
  private everConnected = false;
  private closed = false;
  private resyncing: Promise<void> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** The start's discovery, tried again within the start's budget (see start). */
  private readonly startTries = new StartTries(RECONNECT_DEFAULTS.startupAttempts);
  /** Which primaries answer, and what follows when that changes. */
  private readonly healthCheck: ClusterHealthCheck;
  private readonly replicatedWrites: ClusterReplicatedWrites;
  /** The primaries (addresses) when this pod last resynced: every channel it holds is subscribed on one of them. */
  private resyncedPrimaries = new Set<string>();
  /** What every call's SlotTries share. */
  private readonly slotTryRules: SlotTryRules;

  constructor(options: ClusterConnectionOptions) {
    super();
    this.settings = { ...DEFAULTS, healthCheckMs: Math.max(50, Math.floor((options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs) / 2)), ...options };
    this.replicatedWrites = new ClusterReplicatedWrites(this.settings, this.logger);
    this.slotTryRules = {
      migrationMs: this.settings.commandTimeoutMs,
      closed: () => this.closed,
      followRefusal: (refusedBy, slotMap) => this.followRefusal(refusedBy, slotMap),
    };
    this.discovery = new ClusterDiscovery(
      this.settings,
      {
        closed: () => this.closed,
        onNodeTrouble: (node, error) => this.onNodeTrouble(node, error),
        onDisturbance: () => this.healthCheck.disturb(),
      },
      this.logger,
    );
    this.subscriptions = new ClusterSubscriptions(this.discovery, this.deliverMessage, this.settings.commandTimeoutMs, this.logger);
    this.healthCheck = new ClusterHealthCheck(
      this.discovery,
      this.subscriptions,
      {
        closed: () => this.closed,
        available: () => this.isAvailable,
        resyncing: () => this.resyncing !== undefined,
        resync: () => this.resync(),
        turnUnavailable: () => this.setAvailable(false),
        channelsSilent: (silent) => this.notifyChannelsSilent(silent),
      },
      this.settings,
      this.logger,
    );
  }

  /** node-redis's cluster client in use (replaced when its discovery is stuck: ClusterDiscovery). */
  private get cluster(): HeraldCluster {
    return this.discovery.cluster;
  }

  get available(): boolean {
    return this.isAvailable;
  }

  async attempt<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    // Made at the first failure only: every join's history read and presence update comes here.
    let tries: SlotTries | undefined;
    for (;;) {
      const slotMap = this.discovery.refreshes;
      try {
        return await this.bounded(operation, command(this.discovery.commands));
      } catch (error) {
        tries ??= new SlotTries(this.slotTryRules);
        // node-redis follows redirections itself; a slot that is migrating it leaves to us.
        if (await tries.afterMigrating(error, TRY_AGAIN)) continue;
        // Routed by the cluster client: which node refused is not known here.
        if (await tries.afterRefusal(error, undefined, slotMap)) continue;
        throw asCallError(operation, error, REDIRECTED);
      }
    }
  }

  /**
   * Runs the write on the primary that owns `key` and WAITs there: the acknowledgement counts
   * this connection's writes, so both must go to one node. A redirect (the slot moved or failed
   * over) refreshes the slot map and tries the new owner; a redirect or TRYAGAIN while the slot
   * migrates is tried again for up to REDIS_COMMAND_TIMEOUT_MS (SlotTries).
   */
  async runReplicated<T>(operation: string, key: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    if (!this.isAvailable) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation})`);
    let tries: SlotTries | undefined;
    let followed = false;
    for (;;) {
      // Checked again after a redirect: the slot may have moved to a primary not resynced yet.
      if (!followed && this.isNewPrimaryFor(key)) {
        followed = true;
        await this.followNewPrimaries(key);
      }
      this.refuseUnlessAnswering(operation, key);
      const slotMap = this.discovery.refreshes;
      let node: NodeClient | undefined;
      try {
        node = await this.bounded(operation, this.cluster.getNodeClientForKey(key));
        return await this.replicatedWrites.write(operation, node, command);
      } catch (error) {
        tries ??= new SlotTries(this.slotTryRules);
        if (await tries.afterMigrating(error, REDIRECTED, TRY_AGAIN)) {
          // Routed through the cluster client, a command follows the redirect and refreshes the slot
          // map. Only that refresh is wanted: its own failure shows in the next try, which says why.
          if (isReply(error, REDIRECTED)) await this.bounded('slot refresh', this.cluster.exists(key)).catch(() => undefined);
          continue;
        }
        // Refused before it ran (CLUSTERDOWN comes before any script step), so trying again is safe.
        if (await tries.afterRefusal(error, node && addressText(node), slotMap)) continue;
        if (error instanceof ReplicasUnavailableError) throw error;
        throw asCallError(operation, error, REDIRECTED);
      }
    }
  }

  /**
   * False for a key on a silent primary, and for one on a primary this pod has not resynced with
   * yet (a replica that took over, before the health check saw the primaries change). A room's
   * first publication on a promoted replica begins a new history life, and a pod still
   * subscribed to the old primary then, catching the room up later, cannot prove its members
   * missed nothing of the old life (RoomFeeds tells them `recovery`); refused until this pod has
   * resubscribed there, as every call was while the whole pod was unavailable.
   */
  override answersFor(key: string): boolean {
    const owner = this.discovery.ownerOf(key);
    return owner === undefined || (!this.healthCheck.isSilent(owner) && !this.notResyncedAt(owner));
  }

  /** A write is refused at once rather than queued on a stopped node's socket, to run whenever it wakes (answersFor). */
  private refuseUnlessAnswering(operation: string, key: string): void {
    if (!this.answersFor(key)) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation}: its shard's primary does not answer, or this pod has not resubscribed there yet)`);
  }

  async subscribe(channel: string): Promise<void> {
    let tries: SlotTries | undefined;
    for (;;) {
      if (this.isNewPrimaryFor(channel)) await this.followNewPrimaries(channel);
      if (!this.isAvailable || !this.answersFor(channel)) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
      const owner = this.discovery.ownerOf(channel);
      const slotMap = this.discovery.refreshes;
      try {
        await this.subscriptions.subscribe(channel, owner);
        return;
      } catch (error) {
        if (await (tries ??= new SlotTries(this.slotTryRules)).afterRefusal(error, owner, slotMap)) continue;
        throw asCallError('subscribe', error, REDIRECTED);
      }
    }
  }

  /**
   * A call was refused by the node the slot map sends it to (NOT_SERVED): asks for the slot map
   * again through the health check, which then follows any change as after a slot move (the
   * primaries, scripts, every channel resubscribed at its slot's primary). Resolves true when the
   * map was asked for again since the call was routed by `slotMap` (ClusterDiscovery.refreshes then): the
   * call may try once more. Waits within REDIS_COMMAND_TIMEOUT_MS, and not at all when a refresh
   * ran less than REFUSAL_REFRESH_INTERVAL_MS ago (the next health check makes it).
   */
  private async followRefusal(refusedBy: string | undefined, slotMap: number): Promise<boolean> {
    if (this.discovery.refreshes === slotMap) {
      this.discovery.noteRefusal(refusedBy);
      // The health check does nothing while a resync runs, and a call of that resync (presence
      // registered again) would wait here for the resync that waits for it, to the deadline: the
      // first check after it asks for the map (refusalDue), and the resync is tried again.
      if (this.resyncing) return false;
      // A check already under way may be past its refresh: then a second.
      await this.checkHealthWhile('following the slot map', () => this.discovery.refusalDue);
    }
    return this.discovery.refreshes !== slotMap && !this.closed;
  }

  /** The key's slot is served by a primary this pod has not resubscribed at yet (and which answers). */
  private isNewPrimaryFor(key: string): boolean {
    const owner = this.discovery.ownerOf(key);
    return owner !== undefined && !this.healthCheck.isSilent(owner) && this.notResyncedAt(owner);
  }

  /** A primary that was not one at this pod's last resync (none before the first). */
  private notResyncedAt(primary: string): boolean {
    return this.resyncedPrimaries.size > 0 && !this.resyncedPrimaries.has(primary);
  }

  /**
   * Runs the health check now and waits for it, within REDIS_COMMAND_TIMEOUT_MS: it sees the
   * primaries changed and resubscribes every room there (resync). An idle shard's planned
   * failover is learned only from a call there (its redirect refreshes the slot map), and that
   * call, an admission's subscribe and anchor read or a publish, would otherwise be refused until
   * the next check.
   */
  private async followNewPrimaries(key: string): Promise<void> {
    // A check already under way may have pinged the primaries before the slot map changed: then a second.
    await this.checkHealthWhile('following new primaries', () => this.isNewPrimaryFor(key));
  }

  /**
   * Runs the health check (and the resync it starts) and waits for it, twice at most while
   * `needed` holds, within REDIS_COMMAND_TIMEOUT_MS; resolves whatever came of it.
   */
  private async checkHealthWhile(what: string, needed: () => boolean): Promise<void> {
    const settled = (async () => {
      for (let round = 0; round < 2 && needed() && !this.closed; round++) {
        this.healthCheck.checkHealth();
        await this.healthCheck.running;
        await this.resyncing;
      }
    })();
    // The caller tries its call next, whatever came of the check: that call's answer (or refusal)
    // is the one its caller gets, and the health check reports its own trouble.
    await this.bounded(what, settled).catch(() => undefined);
  }

  async unsubscribe(channel: string): Promise<boolean> {
    const owner = this.subscriptions.subscribedAt(channel);
    if (!this.subscriptions.forget(channel)) return false;
    // A silent primary would hold the caller (the room's next subscribe queues behind it) for the deadline.
    if (!this.isAvailable || (owner !== undefined && this.healthCheck.isSilent(owner))) {
      // node-redis would otherwise keep the listener and move it with its slot forever.
      this.subscriptions.unsubscribe(channel).catch((error: unknown) =>
        this.logger.debug({ message: 'Unsubscribe while unavailable failed', channel, error: describeError(error) }),
      );
      return false;
    }
    try {
      await this.subscriptions.unsubscribe(channel);
    } catch (error) {
      throw asCallError('unsubscribe', error, REDIRECTED);
    }
    return true;
  }

  /**
   * The PING goes to the sharded subscriber of the primary serving the channel's slot, shared
   * with the other flushes of its turn (ClusterSubscriptions.flush).
   */
  async flushChannel(channel: string): Promise<void> {
    // A read just redirected to a new primary (a planned failover of a shard idle here) leaves the
    // channel subscribed at the old one: followed, the resync subscribes it at the new one.
    if (this.isNewPrimaryFor(channel)) await this.followNewPrimaries(channel);
    const subscriber = this.subscriptions.subscriberOf(channel);
    if (!this.isAvailable || !subscriber?.isReady || !this.answersFor(channel)) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscriber PING)');
    await this.subscriptions.flush(subscriber);
  }

  get channelCount(): number {
    return this.subscriptions.count;
  }

  /** Per primary: whether its subscriber connection is up (a primary holding none of this pod's rooms has none). */
  get health(): RedisConnectionHealth {
    const shards = this.cluster.masters.map((master) => {
      const pubSub = (master as { pubSub?: { client?: { isReady: boolean } } }).pubSub;
      const subscriberUp = pubSub?.client === undefined || pubSub.client.isReady;
      return { shard: master.address, up: this.isAvailable && !this.healthCheck.isSilent(master.address) && subscriberUp };
    });
    return { shards, failovers: this.healthCheck.failoverCount };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    this.startTries.close();
    this.subscriptions.clear();
    this.setAvailable(false);
    // A start under way ends at once, its connections cut: closing them waits for every
    // pending reply, which a silent node never sends.
    const abandoned = this.abandonStart();
    // A replacement still discovering is given up; the health check in flight sees `closed`.
    this.discovery.dropCandidate();
    if (abandoned) this.cluster.destroy();
    await this.resyncing?.catch(() => undefined);
    if (abandoned) return;
    await shutCluster(this.cluster, this.settings.commandTimeoutMs, this.logger);
  }

  /**
   * Discovers the cluster, tried up to the start-up attempts within the start's budget, pausing as
   * a reconnect does: node-redis asks the seeds one after the other, once each, every connect
   * bounded by the command timeout, so with one seed (or seeds restarting with the pods) a connect
   * whose timer fired while the event loop was busy (a pod starting beside others), or a seed down
   * for a moment, failed the start at once. Then every primary, its scripts and the resync.
   */
  protected async start(): Promise<void> {
    const budgetMs = this.startTries.budgetMs(this.settings.commandTimeoutMs, this.settings.reconnectMaxDelayMs);
    const deadline = Date.now() + budgetMs;
    try {
      await this.abandonable(async () => {
        let tries = 0;
        await this.startTries.run(() => this.discovery.discoverAtStart(tries++), {
          within: { ms: budgetMs, what: 'the cluster discovery' },
          pauseMs: (attempt) => reconnectBackoffMs(attempt - 1, this.settings),
          isFinal: (error) => error instanceof StartSettingError,
          onRetry: (attempt, error) => this.logger.warn({ message: 'Redis Cluster discovery failed at start; trying again', attempt, error: describeError(error) }),
        });
        await this.discovery.untilEverySlotServed();
        // Connecting to each primary may take what is left of the budget: node-redis tries a
        // connect that timed out again, and a start on a busy machine (a pod starting next to
        // others) is not failed for one slow handshake.
        const connectTimeoutMs = Math.max(this.settings.commandTimeoutMs, deadline - Date.now());
        await this.healthCheck.loadScriptsAtStart(connectTimeoutMs);
        this.everConnected = true;
        this.healthCheck.settleAtStart();
        await this.resync();
      });
    } catch (error) {
      this.closed = true;
      this.cluster.destroy();
      if (error instanceof ClosedWhileStartingError || error instanceof StartSettingError) throw error;
      throw new Error(`Cannot connect to the Redis Cluster at ${this.settings.seeds.map(redactedRedisUrl).join(',')}: ${describeError(error)}`);
    }
    // Closed during the resync: close() has closed the cluster client and cleared no timer yet set.
    if (this.closed) throw new ClosedWhileStartingError();
    this.healthTimer = setInterval(() => this.healthCheck.checkHealth(), this.settings.healthCheckMs);
  }

  /**
   * Subscribes every channel again, runs the seams' resync steps, turns available and tells
   * the seams, which catch their rooms up.
   */
  private resync(): Promise<void> {
    this.resyncing ??= (async () => {
      try {
        const primaries = this.cluster.masters.map((master) => master.address);
        await this.subscriptions.resubscribeAll();
        await Promise.all(this.resyncSteps.map((step) => step()));
        if (this.closed) return;
        this.resyncedPrimaries = new Set(primaries);
        this.setAvailable(true);
        this.notifyResynced();
      } finally {
        this.resyncing = undefined;
      }
    })();
    return this.resyncing;
  }

  private onNodeTrouble(node: string, error?: Error): void {
    if (this.closed || !this.everConnected) return;
    if (!this.healthCheck.disturbed) this.logger.warn({ message: 'Redis Cluster node connection trouble', node, error: error ? describeError(error) : 'reconnecting' });
    this.healthCheck.disturb();
  }

  private setAvailable(available: boolean): void {
    if (this.isAvailable === available) return;
    this.isAvailable = available;
    this.notifyAvailability(available);
  }

  private bounded<T>(operation: string, call: Promise<T>, timeoutMs = this.settings.commandTimeoutMs): Promise<T> {
    return boundedCall(operation, call, timeoutMs);
  }
}
