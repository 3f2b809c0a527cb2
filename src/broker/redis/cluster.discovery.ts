import { Logger } from '@nestjs/common';
import { redactedRedisUrl } from '../../config/redacted-redis-url';
import { DeadlineExpiredError } from '../deadline';
import { HeraldCluster, NodeAddress, NodeClient, RESUBSCRIBE_LISTENERS_EVENT, addressOf, addressText, boundedCall, commandsOn, createHeraldCluster, ownerOf, seedAddress, slotMapGap, slotMapOf, unservedSlots } from './cluster.client';
import { NO_CLUSTER_SUPPORT, isReply } from './cluster.replies';
import { describeError, reconnectBackoffMs } from './redis.client';
import { RedisCommands, StartSettingError } from './redis.connection';
import { SlotRefusals } from './slot-refusals';

/** The least time between two slot map refreshes asked for by refusals (NOT_SERVED says why). */
const REFUSAL_REFRESH_INTERVAL_MS = 1000;
/** How many nodes a slot map refresh after a refusal asks, one after the other, for a map that serves every slot. */
const REFUSAL_REFRESH_TRIES = 3;

/** REDIS_CLUSTER_NODES, the command timeout and the reconnect pauses, as the connection settled them. */
export interface DiscoverySettings {
  seeds: string[];
  commandTimeoutMs: number;
  reconnectMinDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** What the discovery asks of the connection it serves, and tells it. */
export interface DiscoveryOwner {
  closed(): boolean;
  /** A node of the client in use errored (`error`) or is reconnecting. */
  onNodeTrouble(node: string, error?: Error): void;
  /** Something happened that may have cost messages (see ClusterHealthCheck.disturb). */
  onDisturbance(): void;
}

/**
 * The node-redis cluster client in use, and the slot map it routes by: discovered at start,
 * asked for again of a primary that has just answered (a silent primary, a refused slot), and
 * the client replaced by a fresh one when its discovery is stuck. Calls go through `cluster`
 * and `commands`, read anew for each call, since a replacement changes both.
 */
export class ClusterDiscovery {
  /**
   * How long finding the slot map may take before it counts as stuck: connecting to a node that
   * answers, then its handshake and CLUSTER SLOTS, each within the command timeout.
   */
  private readonly discoveryTimeoutMs: number;
  /** node-redis's cluster client; replaced when its slot discovery is stuck (replaceCluster). */
  private current: HeraldCluster;
  private currentCommands: RedisCommands;
  /** A client whose slot refresh missed discoveryTimeoutMs: node-redis hands every later refresh that one. */
  private stuckCluster: HeraldCluster | undefined;
  /** A fresh client still discovering the cluster, to replace a stuck one. */
  private candidate: HeraldCluster | undefined;
  /** Whether the current client's root nodes (its discovery's last resort) are the seeds. */
  private rootedAtSeeds = true;
  /** Calls refused by the node the slot map sends them to, waiting for the health check to ask for the map again. */
  private readonly slotRefusals = new SlotRefusals(REFUSAL_REFRESH_INTERVAL_MS);
  /** How many times the slot map was asked for again (refreshSlots): a call refused before the last may try once more. */
  private refreshCount = 0;

  constructor(
    private readonly settings: DiscoverySettings,
    private readonly owner: DiscoveryOwner,
    /** The connection's: these are its log lines. */
    private readonly logger: Logger,
  ) {
    this.discoveryTimeoutMs = 2 * settings.commandTimeoutMs;
    this.current = this.createCluster();
    this.currentCommands = commandsOn(this.current);
  }

  get cluster(): HeraldCluster {
    return this.current;
  }

  /** The seams' commands, routed by key through the client in use. */
  get commands(): RedisCommands {
    return this.currentCommands;
  }

  /** How many times the slot map was asked for again: a call notes it before it is routed (SlotTries.afterRefusal). */
  get refreshes(): number {
    return this.refreshCount;
  }

  /** The primary node-redis currently routes the slot of a channel or key to. */
  ownerOf(channelOrKey: string): string | undefined {
    return ownerOf(this.current, channelOrKey);
  }

  /** A call was refused by the node the slot map sends it to, at `address` when the caller knows which. */
  noteRefusal(address: string | undefined): void {
    this.slotRefusals.note(address);
  }

  /** Whether refusals wait for the slot map to be asked for again, and the interval since the last refresh has passed. */
  get refusalDue(): boolean {
    return this.slotRefusals.due;
  }

  /** Gives up a replacement still discovering the cluster (the connection closes). */
  dropCandidate(): void {
    this.candidate?.destroy();
  }

  /** A node-redis cluster client whose node events count only while it is the current one. */
  private createCluster(rootNodes?: NodeAddress[]): HeraldCluster {
    const cluster = createHeraldCluster(this.settings.seeds, { commandTimeoutMs: this.settings.commandTimeoutMs, reconnectStrategy: (retries) => reconnectBackoffMs(retries, this.settings) }, rootNodes);
    const current = () => cluster === this.current;
    // Kept on a replaced client as well: an 'error' event nobody listens to would crash the process.
    cluster.on('error', (error: Error) => this.logger.debug({ message: 'Redis Cluster error', error: describeError(error) }));
    cluster.on('node-error', (error: Error, node: NodeAddress) => {
      if (current()) this.owner.onNodeTrouble(`${node.host}:${node.port}`, error);
    });
    cluster.on('node-reconnecting', (node: NodeAddress) => {
      if (current()) this.owner.onNodeTrouble(`${node.host}:${node.port}`);
    });
    // node-redis subscribes the channels of a node that left its slot map again by itself, and
    // lets the SSUBSCRIBE reject unhandled: after a refresh from a node that serves no slots (one
    // just removed with `redis-cli --cluster del-node` answers an empty map) it threw for want of
    // a slot owner, and the unhandled rejection ended both pods. Herald subscribes every channel
    // again itself after any disturbance (resync), so it takes the event as one instead.
    cluster.removeAllListeners(RESUBSCRIBE_LISTENERS_EVENT);
    cluster.on(RESUBSCRIBE_LISTENERS_EVENT, () => {
      if (current()) this.owner.onDisturbance();
    });
    cluster.on('sharded-channel-moved-error', (error: Error, channel: string) => {
      if (!current()) return;
      this.logger.warn({ message: 'A sharded channel could not follow its slot', channel, error: describeError(error) });
      this.owner.onDisturbance();
    });
    return cluster;
  }

  /**
   * One try of the start's discovery. node-redis asks its root nodes one after the other, from a
   * random one, with no deadline: a seed that takes connections and answers nothing (a frozen
   * node, its shard out) held the whole start whenever it came first. Each try has the
   * discovery deadline, and each after the first starts a fresh client at the next seed alone.
   * A seed that answers as a server without Cluster support ends the start at once: node-redis
   * reported only "All the root nodes are unavailable", as for seeds that are down.
   */
  async discoverAtStart(index: number): Promise<void> {
    if (index > 0) {
      this.current.destroy();
      this.use(this.createCluster([seedAddress(this.settings.seeds[(index - 1) % this.settings.seeds.length])]), false);
    }
    // node-redis tells each root node's refusal only as an 'error' event, then gives up on them all.
    let noClusterSupport = false;
    const noticeRefusal = (error: Error) => void (noClusterSupport ||= isReply(error, NO_CLUSTER_SUPPORT));
    const cluster = this.current;
    cluster.on('error', noticeRefusal);
    try {
      await this.discover(cluster);
    } catch (error) {
      if (!noClusterSupport) throw error;
      throw new StartSettingError(
        'REDIS_CLUSTER_NODES',
        `${this.settings.seeds.map(redactedRedisUrl).join(',')}: a node there is not a Redis Cluster node (cluster_enabled:0 in INFO cluster), ` +
          'so it has no slot map to follow: give a single Redis server in REDIS_URL instead',
      );
    } finally {
      cluster.off('error', noticeRefusal);
    }
  }

  /**
   * Asks for the slot map again while it leaves slots without a primary: a seed that is no
   * (longer a) member of the cluster answers an empty one, and node-redis takes it. Each try
   * starts from another node (known ones, then the seeds in random order).
   */
  async untilEverySlotServed(): Promise<void> {
    const slots = slotMapOf(this.current);
    for (let tries = 0; unservedSlots(this.current) > 0; tries++) {
      if (tries === 3 * this.settings.seeds.length || typeof slots?.rediscover !== 'function') {
        throw new Error(`${slotMapGap(unservedSlots(this.current))}; is every seed a node of the cluster?`);
      }
      await boundedCall('the slot map refresh', slots.rediscover(), this.discoveryTimeoutMs);
    }
  }

  /**
   * Asks for the slot map again after calls were refused by the node it sent them to
   * (followRefusal), as refreshSlots does for a silent primary: starting from a primary that has
   * just answered, and not one that refused, since a node removed with del-node answers PING and
   * an empty slot map alike. A map leaving slots unserved all the same (a refusing node picked
   * whose address the refused call did not know) is asked again of another primary.
   */
  async refreshRefusedSlots(cluster: HeraldCluster, answered: NodeClient[]): Promise<void> {
    const refusedBy = this.slotRefusals.take();
    this.logger.warn({ message: 'A Redis Cluster node refused a slot the slot map gives it; asking for the slot map again', nodes: [...refusedBy] });
    const candidates = answered.filter((client) => !refusedBy.has(addressText(client) ?? ''));
    for (let tries = 0; tries < REFUSAL_REFRESH_TRIES && candidates.length > 0; tries++) {
      const [startWith] = candidates.splice(Math.floor(Math.random() * candidates.length), 1);
      await this.refreshSlots(cluster, [startWith]);
      if (cluster !== this.current || this.owner.closed() || unservedSlots(cluster) === 0) return;
    }
  }

  /**
   * Asks the cluster for its slot map again, starting from a primary that has just answered a
   * PING. Left to choose, node-redis may ask the silent primary itself: a stopped process or a
   * paused VM still has its kernel accept the connection, so CLUSTER SLOTS waits forever, and as
   * node-redis runs one refresh at a time and hands every later caller (its own topology
   * refreshes too) the same promise, the pod stayed unready until that node woke up, long after
   * its replica had taken over. A refresh that misses discoveryTimeoutMs all the same is stuck
   * for good, and the client is replaced.
   */
  async refreshSlots(cluster: HeraldCluster, answered: NodeClient[]): Promise<void> {
    if (cluster !== this.current || this.owner.closed()) return;
    // Any refresh answers the refusals noted so far (followRefusal), and their interval starts again.
    this.slotRefusals.take();
    const slots = slotMapOf(cluster);
    // Without that (private) refresh in some node-redis version, a fresh client discovers the cluster as well.
    if (cluster !== this.stuckCluster && typeof slots?.rediscover === 'function') {
      const startWith = answered.length === 0 ? undefined : answered[Math.floor(Math.random() * answered.length)];
      try {
        await boundedCall('the slot map refresh', slots.rediscover(startWith), this.discoveryTimeoutMs);
        this.refreshCount++;
        return;
      } catch (error) {
        if (!(error instanceof DeadlineExpiredError)) {
          this.logger.debug({ message: 'Slot map refresh failed', error: describeError(error) });
          // Known nodes and root nodes all failed. A replacement's root nodes are the primaries
          // that answered when it was made, which may all be gone now: start over from the seeds.
          if (answered.length > 0 || this.rootedAtSeeds) return;
        } else {
          this.stuckCluster = cluster;
        }
      }
    }
    if (cluster !== this.current || this.owner.closed()) return;
    await this.replaceCluster(answered.map((client) => addressOf(client)).filter((address) => address !== undefined));
  }

  /**
   * Replaces node-redis's cluster client with a fresh one that discovers the cluster from
   * `rootNodes`, the primaries that have just answered: not from the seeds, one of which may be
   * the silent node (node-redis tries root nodes in random order, with no deadline). From the
   * seeds only when no primary answered. The old client is destroyed, not closed: closing waits
   * for replies a silent node never sends. Its stuck refresh keeps one connection to that node
   * until the node answers or the connection drops, then updates a slot map nothing uses and
   * connects nothing (minimizeConnections). The next health check sees the new primaries and
   * resyncs as after any disturbance: every channel subscribed again, the seams' resync steps,
   * each room caught up.
   */
  private async replaceCluster(rootNodes: NodeAddress[]): Promise<void> {
    const fromSeeds = rootNodes.length === 0;
    const from = fromSeeds ? this.settings.seeds.map(redactedRedisUrl).join(',') : rootNodes.map(({ host, port }) => `${host}:${port}`).join(',');
    this.logger.warn({ message: 'Replacing the Redis Cluster client: its slot discovery is stuck or found nothing', from });
    const next = this.createCluster(fromSeeds ? undefined : rootNodes);
    this.candidate = next;
    try {
      await this.discover(next);
    } catch (error) {
      next.destroy();
      this.logger.warn({ message: 'A fresh Redis Cluster client could not discover the cluster yet; trying again at the next check', from, error: describeError(error) });
      return;
    } finally {
      this.candidate = undefined;
    }
    if (this.owner.closed()) {
      next.destroy();
      return;
    }
    const previous = this.current;
    this.use(next, fromSeeds);
    this.stuckCluster = undefined;
    this.owner.onDisturbance();
    this.refreshCount++;
    previous.destroy();
  }

  /** Makes `next` the client every call goes through; a start's later try and a replacement each make one. */
  private use(next: HeraldCluster, rootedAtSeeds: boolean): void {
    this.current = next;
    this.currentCommands = commandsOn(next);
    this.rootedAtSeeds = rootedAtSeeds;
  }

  /** A client's discovery of the cluster (its first slot map), within discoveryTimeoutMs. */
  private async discover(cluster: HeraldCluster): Promise<void> {
    await boundedCall('the cluster discovery', cluster.connect(), this.discoveryTimeoutMs);
  }
}
