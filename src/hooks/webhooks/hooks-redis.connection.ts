import { Logger } from '@nestjs/common';
import { createClient, createCluster, createSentinel } from 'redis';
import { DeadlineExpiredError, withDeadline } from '../../broker/deadline';
import { clusterNodeOptions } from '../../broker/redis/cluster.connection';
import { RedisTopology, describeRedis } from '../../config/herald.config';
import { describeHookError } from '../hook-request';
import { HOOKS_SCRIPTS } from './hooks-redis.scripts';

const RECONNECT_MAX_DELAY_MS = 2000;
const reconnectDelayMs = (retries: number) => Math.min(RECONNECT_MAX_DELAY_MS, 50 * 2 ** Math.min(retries, 10));

function createStandaloneClient(url: string, commandTimeoutMs: number) {
  return createClient({
    url,
    scripts: HOOKS_SCRIPTS,
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
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  // As node-redis types its listeners.
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * The webhook drivers' own Redis connection, in whichever topology the broker uses: separate
 * from the broker's, so hooks never queue behind room traffic. Every call is bounded by
 * REDIS_COMMAND_TIMEOUT_MS (node-redis's own timeout does not cover a command already written
 * to a Redis that stopped answering); the drivers retry on their own timers.
 *
 * - standalone (REDIS_URL): one client.
 * - cluster (REDIS_CLUSTER_NODES): node-redis's cluster client, reaching the nodes as the
 *   broker does (clusterNodeOptions). Every hooks key shares one hash tag (HooksRedisStore),
 *   so each script runs on the one primary owning that slot; MOVED after a failover or a slot
 *   migration is followed by the client.
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
  private readonly client: AnyRedisClient;
  readonly commands: HooksRedisCommands;
  private reportedDown = false;

  constructor(
    private readonly topology: RedisTopology,
    private readonly commandTimeoutMs: number,
  ) {
    this.client = this.createClient();
    this.commands = this.bounded(this.client as unknown as HooksRedisCommands);
    this.client.on('error', (error: Error) => this.onError(error));
    if (topology.mode === 'cluster') this.client.on('node-error', (error: Error) => this.onError(error));
    this.client.on('ready', () => (this.reportedDown = false));
  }

  async connect(): Promise<void> {
    // As the broker's start-up budget: a few attempts, each bounded, then refuse to start.
    const budgetMs = 5 * (this.commandTimeoutMs + RECONNECT_MAX_DELAY_MS);
    try {
      await withDeadline(this.client.connect(), budgetMs, () => new DeadlineExpiredError('connect', budgetMs));
    } catch (error) {
      this.client.destroy();
      throw new Error(`Webhooks cannot connect to Redis (${describeRedis(this.topology)}): ${describeHookError(error)}`);
    }
  }

  async close(): Promise<void> {
    try {
      await withDeadline(this.client.close(), this.commandTimeoutMs, () => new DeadlineExpiredError('close', this.commandTimeoutMs));
    } catch (error) {
      this.logger.debug({ message: 'Graceful close failed; destroying the connection', error: describeHookError(error) });
      this.client.destroy();
    }
  }

  private createClient(): AnyRedisClient {
    const topology = this.topology;
    const commandTimeoutMs = this.commandTimeoutMs;
    switch (topology.mode) {
      case 'standalone':
        return createStandaloneClient(topology.url, commandTimeoutMs);
      case 'cluster':
        return createCluster({ ...clusterNodeOptions(topology.seeds, { commandTimeoutMs, reconnectStrategy: reconnectDelayMs }), scripts: HOOKS_SCRIPTS });
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

  /** The commands, each failing with DeadlineExpiredError after REDIS_COMMAND_TIMEOUT_MS. */
  private bounded(client: HooksRedisCommands): HooksRedisCommands {
    const commands: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of [...Object.keys(HOOKS_SCRIPTS), 'zRem']) {
      commands[name] = (...args) => withDeadline(target[name](...args), this.commandTimeoutMs, () => new DeadlineExpiredError(`webhooks ${name}`, this.commandTimeoutMs));
    }
    return commands as unknown as HooksRedisCommands;
  }

  private onError(error: Error): void {
    // A reconnect loop reports every failed attempt; the first is worth a warning.
    const fields = { message: 'Hooks Redis connection error', redis: describeRedis(this.topology), error: describeHookError(error) };
    if (this.reportedDown) this.logger.debug(fields);
    else this.logger.warn(fields);
    this.reportedDown = true;
  }
}
