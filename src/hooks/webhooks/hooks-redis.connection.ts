import { Logger } from '@nestjs/common';
import { RedisClient, RedisCluster, createSentinel } from 'redis';
import { DeadlineExpiredError, withDeadline } from '../../broker/deadline';
import { clusterClientOptions, NodeAddress, seedAddress, shutCluster } from '../../broker/redis/cluster.client';
import { RECONNECT_DEFAULTS, builtOnce, destroyClient, shutClient } from '../../broker/redis/redis.client';
import { StartTries } from '../../broker/redis/start-tries';
import { RedisTopology, describeRedis } from '../../config/herald.config';
import { describeHookError } from '../hook-request';
import { HOOKS_SCRIPTS } from './hooks-redis.scripts';

const RECONNECT_MAX_DELAY_MS = 2000;
const reconnectDelayMs = (retries: number) => Math.min(RECONNECT_MAX_DELAY_MS, 50 * 2 ** Math.min(retries, 10));

/** The hooks clients' classes, built once: see redis.client.ts for why. */
const hooksClients = builtOnce(() => RedisClient.factory({ scripts: HOOKS_SCRIPTS }));
const hooksClusters = builtOnce(() => RedisCluster.factory({ scripts: HOOKS_SCRIPTS }));

function createStandaloneClient(url: string, commandTimeoutMs: number) {
  return hooksClients()({
    url,
    // Fail at once while disconnected: every caller has its own retry (timers, full sync).
    disableOfflineQueue: true,
    // Bounded by HooksRedisConnection.commands instead, as every Redis call of the engine is.
    commandOptions: { timeout: 0 },
    socket: { connectTimeout: commandTimeoutMs, reconnectStrategy: reconnectDelayMs },
  });
}

/** What the drivers run: the hooks scripts, and ZREM for the unread schedule. */
export type HooksRedisCommands = Pick<ReturnType<typeof createStandaloneClient>, keyof typeof HOOKS_SCRIPTS | 'zRem'>;

/** The part of a node-redis client, cluster or sentinel client that the connection drives. */
interface AnyRedisClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  // As node-redis types its listeners.
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

type HooksCluster = ReturnType<typeof createHooksCluster>;

/** node-redis's per-call options, as each of its clients (one server, Cluster, Sentinel) takes them. */
interface WithCommandOptions {
  readonly commandOptions?: object;
  withCommandOptions(options: object): Record<string, (...args: unknown[]) => Promise<unknown>>;
}

/** The webhook drivers' cluster client, reaching the nodes as the broker's does; `rootNodes`: see recoverCluster. */
function createHooksCluster(seeds: string[], commandTimeoutMs: number, rootNodes?: NodeAddress[]) {
  return hooksClusters()(clusterClientOptions(seeds, { commandTimeoutMs, reconnectStrategy: reconnectDelayMs }, HOOKS_SCRIPTS, rootNodes));
}

/**
 * The webhook drivers' own Redis connection, in whichever topology the broker uses: separate
 * from the broker's, so hooks never queue behind room traffic. Every call is bounded by
 * REDIS_COMMAND_TIMEOUT_MS (node-redis's own timeout does not cover a command already written
 * to a Redis that stopped answering); the drivers retry on their own timers.
 *
 * - standalone (REDIS_URL): one client.
 * - cluster (REDIS_CLUSTER_NODES): node-redis's cluster client, reaching the nodes as the
 *   broker does (clusterClientOptions). Every hooks key shares one hash tag (HooksRedisStore),
 *   so each script runs on the one primary owning that slot; MOVED after a failover or a slot
 *   migration is followed by the client. A primary that stops answering without closing its
 *   connections (SIGSTOP, a paused VM) never answers MOVED, so the client would keep sending to
 *   it after its replica took over: a call that misses its deadline has every primary PINGed,
 *   and when one is silent the client is replaced by a fresh one that discovers the cluster from
 *   the primaries that answered (recoverCluster), as the broker's connection does.
 * - sentinel (REDIS_SENTINELS): node-redis's Sentinel client, which asks the sentinels for the
 *   primary and follows `+switch-master`; calls made while it switches wait (bounded) or fail,
 *   and the drivers retry.
 *
 * REDIS_MIN_REPLICAS does not apply here: the bookkeeping is not WAITed for. What a failover
 * can lose (the last writes before the primary died) is repaired by the drivers: counts are
 * absolute per pod and a pod the new primary does not know resyncs in full; queued events are
 * at least once, so a lost lease at worst resends an event under the same id.
 */
export class HooksRedisConnection {
  private readonly logger = new Logger(HooksRedisConnection.name);
  /** Replaced only on a Cluster, by recoverCluster; `commands` always reaches the current one. */
  private client: AnyRedisClient;
  readonly commands: HooksRedisCommands;
  private reportedDown = false;
  private closed = false;
  /** The Cluster client recoverCluster is discovering, not yet in use: close() destroys it too. */
  private candidate: HooksCluster | undefined;
  /** The start's tries (see connect), as many as the broker's (RECONNECT_DEFAULTS). */
  private readonly startTries = new StartTries(RECONNECT_DEFAULTS.startupAttempts);
  /** A Cluster recovery under way, and when the last one started (one per command timeout at most). */
  private recovering: Promise<void> | undefined;
  private lastRecoveryMs = 0;
  /** How long a Cluster client's discovery may take (a connect, its handshake, CLUSTER SLOTS) before it counts as stuck. */
  private readonly discoveryMs: number;

  constructor(
    private readonly topology: RedisTopology,
    private readonly commandTimeoutMs: number,
  ) {
    this.discoveryMs = 3 * commandTimeoutMs;
    this.client = this.listenTo(this.createClient());
    this.commands = this.bounded();
  }

  async connect(): Promise<void> {
    // As the broker's start-up budget: a few attempts, each bounded, then refuse to start.
    const budgetMs = this.startTries.budgetMs(this.commandTimeoutMs, RECONNECT_MAX_DELAY_MS);
    let tries = 0;
    try {
      await this.startTries.run(() => (this.topology.mode === 'cluster' ? this.discoverAtStart(this.topology.seeds, tries++) : this.client.connect()), {
        within: { ms: budgetMs, what: 'connect' },
        pauseMs: (attempt) => reconnectDelayMs(attempt - 1),
        // The one-server client reconnects on its own until the deadline, and node-redis's
        // Sentinel client asks again itself. A cluster client asks each seed once per discovery,
        // so its start is tried again as the broker's is (ClusterRedisConnection.start).
        isFinal: () => this.topology.mode !== 'cluster',
        onRetry: (attempt, error) => this.logger.warn({ message: 'Webhooks: Redis Cluster discovery failed at start; trying again', attempt, error: describeHookError(error) }),
      });
    } catch (error) {
      this.client.destroy();
      throw new Error(`Webhooks cannot connect to Redis (${describeRedis(this.topology)}): ${describeHookError(error)}`);
    }
  }

  /**
   * One try of the start's Cluster discovery, as the broker's (ClusterDiscovery.discoverAtStart):
   * node-redis asks its root nodes one after the other, from a random one, with no deadline, so a
   * seed that takes connections and answers nothing (a frozen primary, its shard out) held the
   * start for its whole budget whenever it came first, and then failed it. Each try has the
   * discovery deadline, and each after the first starts a fresh client at the next seed alone
   * (the stuck one cannot connect again).
   */
  private async discoverAtStart(seeds: string[], index: number): Promise<void> {
    if (index > 0) {
      this.client.destroy();
      this.client = this.listenTo(createHooksCluster(seeds, this.commandTimeoutMs, [seedAddress(seeds[(index - 1) % seeds.length])]) as unknown as AnyRedisClient);
    }
    await withDeadline(this.client.connect(), this.discoveryMs, () => new DeadlineExpiredError('the cluster discovery', this.discoveryMs));
  }

  /** Cuts the connection at once, without waiting for replies: every call still waiting fails. */
  destroy(): void {
    void this.shut(0);
  }

  /** Closes gracefully within `withinMs` (REDIS_COMMAND_TIMEOUT_MS unless given), then destroys. */
  async close(withinMs = this.commandTimeoutMs): Promise<void> {
    await this.shut(withinMs);
  }

  /** Closes within `timeoutMs` (0: at once), destroying what has not closed by then. */
  private async shut(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.startTries.close();
    // Its discovery may outlast this close by its own deadline (3 x the command timeout).
    const candidate = this.candidate;
    this.candidate = undefined;
    if (candidate) destroyClient(candidate);
    if (this.topology.mode === 'cluster') await shutCluster(this.client as unknown as HooksCluster, timeoutMs, this.logger);
    else await shutClient(this.client, timeoutMs, this.logger);
  }

  private createClient(): AnyRedisClient {
    const topology = this.topology;
    const commandTimeoutMs = this.commandTimeoutMs;
    switch (topology.mode) {
      case 'standalone':
        return createStandaloneClient(topology.url, commandTimeoutMs);
      case 'cluster':
        return createHooksCluster(topology.seeds, commandTimeoutMs);
      case 'sentinel':
        return createSentinel({
          name: topology.masterName,
          sentinelRootNodes: topology.sentinels,
          scripts: HOOKS_SCRIPTS,
          nodeClientOptions: {
            username: topology.username,
            password: topology.password,
            disableOfflineQueue: true,
            socket: { tls: topology.tls, connectTimeout: commandTimeoutMs, reconnectStrategy: reconnectDelayMs },
          },
          sentinelClientOptions: {
            username: topology.sentinelUsername,
            password: topology.sentinelPassword,
            socket: { tls: topology.tls, connectTimeout: commandTimeoutMs, reconnectStrategy: reconnectDelayMs },
          },
        } as Parameters<typeof createSentinel>[0]) as unknown as AnyRedisClient;
    }
  }

  private listenTo(client: AnyRedisClient): AnyRedisClient {
    client.on('error', (error: Error) => this.onError(error));
    if (this.topology.mode === 'cluster') client.on('node-error', (error: Error) => this.onError(error));
    client.on('ready', () => (this.reportedDown = false));
    return client;
  }

  /**
   * The commands, on whichever client is current when called, each failing with
   * DeadlineExpiredError after REDIS_COMMAND_TIMEOUT_MS; on a Cluster such a failure starts a
   * recovery (recoverCluster). A command that missed its deadline is also aborted: one not
   * written yet is dropped from the client's queue rather than run late. node-redis's Sentinel
   * client holds commands while it switches primaries and runs them on the new one, after their
   * callers gave up: a claim of due unread checks, run so, leased them to no one for 30 s (a
   * probe's reminders came 34 s late after a Sentinel primary was killed).
   */
  private bounded(): HooksRedisCommands {
    const commands: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const name of [...Object.keys(HOOKS_SCRIPTS), 'zRem']) {
      commands[name] = async (...args) => {
        const abort = new AbortController();
        const client = this.client as unknown as WithCommandOptions;
        const target = client.withCommandOptions({ ...client.commandOptions, abortSignal: abort.signal });
        const expired = () => {
          abort.abort();
          return new DeadlineExpiredError(`webhooks ${name}`, this.commandTimeoutMs);
        };
        try {
          return await withDeadline(target[name](...args), this.commandTimeoutMs, expired);
        } catch (error) {
          if (error instanceof DeadlineExpiredError && this.topology.mode === 'cluster') this.startClusterRecovery();
          throw error;
        }
      };
    }
    return commands as unknown as HooksRedisCommands;
  }

  private startClusterRecovery(): void {
    if (this.recovering || this.closed || Date.now() - this.lastRecoveryMs < this.commandTimeoutMs) return;
    this.lastRecoveryMs = Date.now();
    this.recovering = this.recoverCluster()
      .catch((error: unknown) => this.logger.warn({ message: 'Hooks Redis Cluster recovery failed; trying again at the next missed deadline', error: describeHookError(error) }))
      .finally(() => (this.recovering = undefined));
  }

  /**
   * PINGs every primary the client knows, each within the command timeout; when one is silent,
   * replaces the client with one that discovers the cluster from the primaries that answered
   * (from the seeds when none did). Left alone, node-redis keeps sending to the silent node and
   * may ask it for the slot map, with no deadline. Until the cluster has promoted the silent
   * primary's replica the fresh client finds the same map, and a later missed deadline tries again.
   */
  private async recoverCluster(): Promise<void> {
    const current = this.client as unknown as HooksCluster;
    const pings = await Promise.allSettled(
      current.masters.map(async (master) => {
        const node = await withDeadline(current.nodeClient(master), this.commandTimeoutMs, () => new DeadlineExpiredError('connect', this.commandTimeoutMs));
        await withDeadline(node.ping(), this.commandTimeoutMs, () => new DeadlineExpiredError('PING', this.commandTimeoutMs));
        return { host: master.host, port: master.port };
      }),
    );
    const answered = pings.flatMap((ping) => (ping.status === 'fulfilled' ? [ping.value] : []));
    if (answered.length === pings.length || this.closed || current !== this.client) return;
    const seeds = (this.topology as Extract<RedisTopology, { mode: 'cluster' }>).seeds;
    const fresh = createHooksCluster(seeds, this.commandTimeoutMs, answered.length > 0 ? answered : undefined);
    this.candidate = fresh;
    try {
      await withDeadline(fresh.connect(), this.discoveryMs, () => new DeadlineExpiredError('the cluster discovery', this.discoveryMs));
    } catch (error) {
      // Unless close() destroyed it already.
      if (this.candidate === fresh) destroyClient(fresh);
      throw error;
    } finally {
      this.candidate = undefined;
    }
    // Closed meanwhile: close() destroyed it.
    if (this.closed) return;
    if (current !== this.client) {
      fresh.destroy();
      return;
    }
    this.logger.warn({ message: 'Replaced the hooks Redis Cluster client: a primary stopped answering', silent: pings.length - answered.length });
    this.client = this.listenTo(fresh as unknown as AnyRedisClient);
    // Destroyed, not closed: closing waits for replies the silent node never sends.
    current.destroy();
  }

  private onError(error: Error): void {
    // A reconnect loop reports every failed attempt; the first is worth a warning.
    const fields = { message: 'Hooks Redis connection error', redis: describeRedis(this.topology), error: describeHookError(error) };
    if (this.reportedDown) this.logger.debug(fields);
    else this.logger.warn(fields);
    this.reportedDown = true;
  }
}
