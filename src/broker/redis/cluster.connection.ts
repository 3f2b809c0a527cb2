import { Logger } from '@nestjs/common';
import { ErrorReply, createCluster } from 'redis';
// node-redis's own slot function (not re-exported), so slots are computed as its cluster client does.
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { BrokerUnavailableError } from '../broker';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { asCallError, describeError, redactedUrl } from './redis.client';
import { RedisCommands, RedisConnection, RedisConnectionHealth, ReplicasUnavailableError } from './redis.connection';
import { REDIS_SCRIPTS } from './redis.scripts';

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

const DEFAULTS = { commandTimeoutMs: 2000, minReplicas: 1, replicaWaitMs: 1000, reconnectMinDelayMs: 50, reconnectMaxDelayMs: 2000 };

/** Replies that mean "not here": a slot moved; "not now" for a caller, like asCallError's own. */
const REDIRECTED = /^(MOVED|ASK)\b/;

/**
 * How a cluster client reaches REDIS_CLUSTER_NODES; shared with the webhook drivers' own
 * cluster client (hooks-redis.connection.ts), so both reach the nodes the same way.
 */
export function clusterNodeOptions(seeds: string[], options: { commandTimeoutMs: number; reconnectStrategy: (retries: number) => number }) {
  const first = new URL(seeds[0]);
  return {
    rootNodes: seeds.map((url) => ({ url })),
    // Nodes the cluster announces are reached with the seeds' credentials and TLS.
    defaults: {
      username: first.username === '' ? undefined : decodeURIComponent(first.username),
      password: first.password === '' ? undefined : decodeURIComponent(first.password),
      disableOfflineQueue: true,
      socket: {
        tls: first.protocol === 'rediss:',
        connectTimeout: options.commandTimeoutMs,
        reconnectStrategy: options.reconnectStrategy,
      },
    },
  };
}

function createHeraldCluster(seeds: string[], options: { commandTimeoutMs: number; reconnectStrategy: (retries: number) => number }) {
  return createCluster({ ...clusterNodeOptions(seeds, options), scripts: REDIS_SCRIPTS });
}
type HeraldCluster = ReturnType<typeof createHeraldCluster>;
type NodeClient = Awaited<ReturnType<HeraldCluster['nodeClient']>>;

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
 * - Durable writes (`runReplicated`) run on the primary owning the key and are followed by
 *   WAIT on the same connection: fewer acknowledgements than REDIS_MIN_REPLICAS in
 *   REDIS_REPLICA_WAIT_MS is a ReplicasUnavailableError (503).
 */
export class ClusterRedisConnection extends RedisConnection {
  private readonly logger = new Logger(ClusterRedisConnection.name);
  private readonly settings: Required<ClusterConnectionOptions>;
  private readonly cluster: HeraldCluster;
  private readonly commands: RedisCommands;
  /** Each subscribed channel and the primary that served its slot when it was last SSUBSCRIBEd. */
  private readonly channels = new Map<string, string | undefined>();
  private isAvailable = false;
  private everConnected = false;
  private closed = false;
  /** Something happened that may have cost messages: resync once every primary answers. */
  private disturbed = false;
  private resyncing: Promise<void> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private primaries = '';
  private failoverCount = 0;
  private refusedForReplicas = 0;
  private downSinceMs: number | undefined;
  private readonly onChannelMessage = (message: string, channel: string) => this.receive(message, channel);

  constructor(options: ClusterConnectionOptions) {
    super();
    this.settings = { ...DEFAULTS, healthCheckMs: Math.max(50, Math.floor((options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs) / 2)), ...options };
    this.cluster = createHeraldCluster(options.seeds, {
      commandTimeoutMs: this.settings.commandTimeoutMs,
      reconnectStrategy: (retries) => this.backoffMs(retries),
    });
    this.cluster.on('error', (error: Error) => this.logger.debug({ message: 'Redis Cluster error', error: describeError(error) }));
    this.cluster.on('node-error', (error: Error, node: { host: string; port: number }) => this.onNodeTrouble(`${node.host}:${node.port}`, error));
    this.cluster.on('node-reconnecting', (node: { host: string; port: number }) => this.onNodeTrouble(`${node.host}:${node.port}`));
    this.cluster.on('sharded-channel-moved-error', (error: Error, channel: string) => {
      this.logger.warn({ message: 'A sharded channel could not follow its slot', channel, error: describeError(error) });
      this.disturbed = true;
    });
    this.commands = this.commandsOn(this.cluster);
  }

  get available(): boolean {
    return this.isAvailable;
  }

  async attempt<T>(operation: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    try {
      return await this.bounded(operation, command(this.commands));
    } catch (error) {
      throw asCallError(operation, error, REDIRECTED);
    }
  }

  /**
   * Runs the write on the primary that owns `key` and WAITs there: the acknowledgement counts
   * this connection's writes, so both must go to one node. A redirect (the slot moved or failed
   * over) refreshes the slot map and tries the new owner once.
   */
  async runReplicated<T>(operation: string, key: string, command: (redis: RedisCommands) => Promise<T>): Promise<T> {
    if (!this.isAvailable) throw new BrokerUnavailableError(`The message broker is unreachable (Redis ${operation})`);
    for (let attempt = 0; ; attempt++) {
      try {
        const node = await this.bounded(operation, this.cluster.getNodeClientForKey(key) as Promise<NodeClient>);
        const reply = await this.bounded(operation, command(this.commandsOn(node)));
        await this.awaitReplicas(operation, node);
        return reply;
      } catch (error) {
        if (attempt === 0 && error instanceof ErrorReply && REDIRECTED.test(error.message)) {
          // Routed through the cluster client, a command follows the redirect and refreshes the slot map.
          await this.bounded('slot refresh', this.cluster.exists(key)).catch(() => undefined);
          continue;
        }
        if (error instanceof ReplicasUnavailableError) throw error;
        throw asCallError(operation, error, REDIRECTED);
      }
    }
  }

  async subscribe(channel: string): Promise<void> {
    if (!this.isAvailable) throw new BrokerUnavailableError('The message broker is unreachable (Redis subscribe)');
    this.channels.set(channel, this.ownerOf(channel));
    try {
      await this.bounded('subscribe', this.cluster.sSubscribe(channel, this.onChannelMessage));
    } catch (error) {
      this.channels.delete(channel);
      throw asCallError('subscribe', error, REDIRECTED);
    }
  }

  async unsubscribe(channel: string): Promise<boolean> {
    if (!this.channels.delete(channel)) return false;
    if (!this.isAvailable) {
      // node-redis would otherwise keep the listener and move it with its slot forever.
      this.bounded('unsubscribe', this.cluster.sUnsubscribe(channel, this.onChannelMessage)).catch((error: unknown) =>
        this.logger.debug({ message: 'Unsubscribe while unavailable failed', channel, error: describeError(error) }),
      );
      return false;
    }
    try {
      await this.bounded('unsubscribe', this.cluster.sUnsubscribe(channel, this.onChannelMessage));
    } catch (error) {
      throw asCallError('unsubscribe', error, REDIRECTED);
    }
    return true;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Per primary: whether its subscriber connection is up (a primary holding none of this pod's rooms has none). */
  get health(): RedisConnectionHealth {
    const shards = this.cluster.masters.map((master) => {
      const pubSub = (master as { pubSub?: { client?: { isReady: boolean } } }).pubSub;
      return { shard: master.address, up: this.isAvailable && (pubSub?.client === undefined || pubSub.client.isReady) };
    });
    return { shards, failovers: this.failoverCount, refusedForReplicas: this.refusedForReplicas };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    this.channels.clear();
    this.setAvailable(false);
    await this.resyncing?.catch(() => undefined);
    try {
      await withDeadline(this.cluster.close(), this.settings.commandTimeoutMs, () => new DeadlineExpiredError('close', this.settings.commandTimeoutMs));
    } catch (error) {
      this.logger.debug({ message: 'Graceful Redis Cluster close failed; destroying the connections', error: describeError(error) });
      this.cluster.destroy();
    }
  }

  protected async start(): Promise<void> {
    const budgetMs = 5 * (this.settings.commandTimeoutMs + this.settings.reconnectMaxDelayMs);
    try {
      await withDeadline(this.cluster.connect(), budgetMs, () => new DeadlineExpiredError('the cluster discovery', budgetMs));
      await Promise.all(this.cluster.masters.map((master) => this.loadScripts(master)));
      this.everConnected = true;
      this.primaries = this.primaryAddresses();
      this.disturbed = false;
      await this.resync();
    } catch (error) {
      this.closed = true;
      this.cluster.destroy();
      throw new Error(`Cannot connect to the Redis Cluster at ${this.settings.seeds.map(redactedUrl).join(',')}: ${describeError(error)}`);
    }
    this.healthTimer = setInterval(() => void this.checkHealth(), this.settings.healthCheckMs);
  }

  /**
   * Subscribes every channel again, runs the seams' resync steps, turns available and tells
   * the seams, which catch their rooms up.
   */
  private resync(): Promise<void> {
    this.resyncing ??= (async () => {
      try {
        for (const channel of [...this.channels.keys()]) await this.resubscribe(channel);
        await Promise.all(this.resyncSteps.map((step) => step()));
        if (this.closed) return;
        this.setAvailable(true);
        this.notifyResynced();
      } finally {
        this.resyncing = undefined;
      }
    })();
    return this.resyncing;
  }

  /** PINGs every primary; a silent or unreachable one marks the pod unavailable until all answer. */
  private async checkHealth(): Promise<void> {
    if (this.closed || this.checking || this.resyncing) return;
    this.checking = true;
    try {
      const masters = this.cluster.masters;
      // Bounded as a whole: a node client still connecting to a dead primary never settles.
      await Promise.all(masters.map((master) => this.bounded('PING', this.cluster.nodeClient(master).then((client) => client.ping()))));
      const primaries = this.primaryAddresses();
      if (primaries !== this.primaries) {
        this.failoverCount++;
        this.logger.warn({ message: 'Redis Cluster primaries changed', before: this.primaries, after: primaries });
        this.primaries = primaries;
        this.disturbed = true;
        await Promise.all(masters.map((master) => this.loadScripts(master)));
      }
      const moved = this.movedChannels();
      if (moved > 0) {
        // A slot migrated (resharding): node-redis follows it, but what was published meanwhile
        // reached no one here.
        this.logger.warn({ message: 'Slots of subscribed rooms moved to another primary', rooms: moved });
        this.disturbed = true;
      }
      if (this.disturbed || !this.isAvailable) {
        this.disturbed = false;
        const downMs = this.downSinceMs === undefined ? undefined : Date.now() - this.downSinceMs;
        this.logger.log({ message: 'Every Redis Cluster primary answers; resubscribing rooms and catching up', downMs, rooms: this.channels.size });
        await this.resync();
      }
    } catch (error) {
      this.markDown(`a primary did not answer: ${describeError(error)}`);
      // A dead primary's slots move to its replica: asking the cluster for the slot map again
      // is what node-redis does on MOVED; a PING to a dead node never sees one.
      this.disturbed = true;
      this.refreshSlots();
    } finally {
      this.checking = false;
    }
  }

  private refreshSlots(): void {
    const slots = (this.cluster as unknown as { _slots?: { rediscover?: (startWith?: unknown) => Promise<void> } })._slots;
    slots?.rediscover?.()?.catch((error: unknown) => this.logger.debug({ message: 'Slot map refresh failed', error: describeError(error) }));
  }

  private onNodeTrouble(node: string, error?: Error): void {
    if (this.closed || !this.everConnected) return;
    if (!this.disturbed) this.logger.warn({ message: 'Redis Cluster node connection trouble', node, error: error ? describeError(error) : 'reconnecting' });
    this.disturbed = true;
  }

  private async awaitReplicas(operation: string, node: NodeClient): Promise<void> {
    const wanted = this.settings.minReplicas;
    if (wanted === 0) return;
    const waitMs = this.settings.replicaWaitMs;
    const acknowledged = Number(
      await withDeadline(node.sendCommand(['WAIT', String(wanted), String(waitMs)]), waitMs + this.settings.commandTimeoutMs, () => new DeadlineExpiredError(`WAIT after ${operation}`, waitMs)),
    );
    if (acknowledged >= wanted) return;
    this.refusedForReplicas++;
    throw new ReplicasUnavailableError(operation, acknowledged, wanted);
  }

  private async loadScripts(master: HeraldCluster['masters'][number]): Promise<void> {
    const client = await this.cluster.nodeClient(master);
    await Promise.all(Object.values(REDIS_SCRIPTS).map((script) => this.bounded('SCRIPT LOAD', client.scriptLoad(script.SCRIPT))));
  }

  /**
   * SUNSUBSCRIBE then SSUBSCRIBE, so the subscription is confirmed by the primary that owns the
   * slot now. A plain SSUBSCRIBE would not do: node-redis answers it at once, without asking
   * Redis, for a channel it already lists, and it lists a moved channel on the new primary
   * before its own SSUBSCRIBE there is answered. What is published between the two calls is
   * covered by the catch-up that follows.
   */
  private async resubscribe(channel: string): Promise<void> {
    this.channels.set(channel, this.ownerOf(channel));
    await this.bounded('resubscribe', this.cluster.sUnsubscribe(channel, this.onChannelMessage)).catch((error: unknown) =>
      // The old subscription is gone with its node, or was never made: subscribing is what counts.
      this.logger.debug({ message: 'Unsubscribe before resubscribing failed', channel, error: describeError(error) }),
    );
    await this.bounded('resubscribe', this.cluster.sSubscribe(channel, this.onChannelMessage));
  }

  /** The primary node-redis currently routes the channel's slot to. */
  private ownerOf(channel: string): string | undefined {
    return this.cluster.slots[calculateSlot(channel)]?.master.address;
  }

  /** Subscribed channels whose slot is now served by another primary than when subscribed. */
  private movedChannels(): number {
    let moved = 0;
    for (const [channel, owner] of this.channels) if (this.ownerOf(channel) !== owner) moved++;
    return moved;
  }

  private primaryAddresses(): string {
    return this.cluster.masters
      .map((master) => master.address)
      .sort()
      .join(',');
  }

  /** The seams' commands on a client (the cluster, routed by key, or one node): PUBLISH is SPUBLISH here. */
  private commandsOn(client: HeraldCluster | NodeClient): RedisCommands {
    const commands: Record<string, unknown> = {};
    for (const name of Object.keys(REDIS_SCRIPTS)) {
      commands[name] = (...args: unknown[]) => (client as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
    }
    commands.publish = (channel: string, message: string) => client.sPublish(channel, message);
    return commands as unknown as RedisCommands;
  }

  private receive(message: string, channel: string): void {
    try {
      this.messageListener(message, channel);
    } catch (error) {
      this.logger.error({ message: 'Could not handle a channel message', channel, error: describeError(error) });
    }
  }

  private markDown(reason: string): void {
    if (!this.isAvailable) return;
    this.downSinceMs = Date.now();
    this.logger.warn({ message: 'Redis Cluster unavailable', reason });
    this.setAvailable(false);
  }

  private setAvailable(available: boolean): void {
    if (this.isAvailable === available) return;
    this.isAvailable = available;
    this.notifyAvailability(available);
  }

  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.settings.reconnectMaxDelayMs, this.settings.reconnectMinDelayMs * 2 ** Math.min(attempt, 16));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private bounded<T>(operation: string, call: Promise<T>): Promise<T> {
    const timeoutMs = this.settings.commandTimeoutMs;
    return withDeadline(call, timeoutMs, () => new DeadlineExpiredError(operation, timeoutMs));
  }
}
