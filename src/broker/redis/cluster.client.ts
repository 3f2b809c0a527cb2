import type { Logger } from '@nestjs/common';
import { RedisCluster } from 'redis';
// node-redis's own slot function (not re-exported), so slots are computed as its cluster client does.
import calculateSlot from '@redis/client/dist/lib/utils/calculate-slot';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { ClosableClient, builtOnce, destroyClient, shutClient } from './redis.client';
import type { RedisCommands } from './redis.connection';
import { REDIS_SCRIPTS } from './redis.scripts';

const NO_COMMAND_TIMEOUT = { timeout: 0 };

/** How a cluster client reaches REDIS_CLUSTER_NODES (see clusterClientOptions). */
function clusterNodeOptions(seeds: string[], options: { commandTimeoutMs: number; reconnectStrategy: (retries: number) => number }) {
  const first = new URL(seeds[0]);
  return {
    rootNodes: seeds.map((url) => ({ url })),
    // No per-command timer (node-redis arms an AbortSignal.timeout for every command, the cluster's
    // own and its node clients'): every call is bounded by the connection itself (`boundedCall`).
    commandOptions: NO_COMMAND_TIMEOUT,
    // Nodes the cluster announces are reached with the seeds' credentials and TLS.
    defaults: {
      username: first.username === '' ? undefined : decodeURIComponent(first.username),
      password: first.password === '' ? undefined : decodeURIComponent(first.password),
      disableOfflineQueue: true,
      commandOptions: NO_COMMAND_TIMEOUT,
      socket: {
        tls: first.protocol === 'rediss:',
        connectTimeout: options.commandTimeoutMs,
        reconnectStrategy: options.reconnectStrategy,
      },
    },
  };
}

export interface NodeAddress {
  host: string;
  port: number;
}

/** Where a REDIS_CLUSTER_NODES seed URL points, as a root node of a client started from it alone. */
export function seedAddress(seed: string): NodeAddress {
  const url = new URL(seed);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) };
}

/**
 * The cluster client's class, built once (see redis.client.ts for why): a replacement client
 * (replaceCluster), made while a primary is silent, then builds only its node clients' class.
 */
const heraldClusters = builtOnce(() => RedisCluster.factory({ scripts: REDIS_SCRIPTS }));

/**
 * A cluster client's options, the broker's and the webhook drivers' alike, running `scripts`
 * (node-redis builds the node clients from the cluster's own options: they run them too).
 * `rootNodes`: where discovery starts instead of the seeds (a replacement client).
 */
export function clusterClientOptions<Scripts>(seeds: string[], options: { commandTimeoutMs: number; reconnectStrategy: (retries: number) => number }, scripts: Scripts, rootNodes?: NodeAddress[]) {
  return {
    ...clusterNodeOptions(seeds, options),
    ...(rootNodes === undefined ? {} : { rootNodes: rootNodes.map(({ host, port }) => ({ socket: { host, port } })) }),
    // Discovery only fetches the slot map; each node is connected when first used (the health
    // PINGs, bounded), so discovering, a replacement's too, never waits on connecting to a node
    // that answers nothing (up to its whole deadline, the silent primary it replaces).
    minimizeConnections: true,
    scripts,
  };
}

/** The broker's cluster client (see clusterClientOptions). */
export function createHeraldCluster(seeds: string[], options: { commandTimeoutMs: number; reconnectStrategy: (retries: number) => number }, rootNodes?: NodeAddress[]) {
  return heraldClusters()(clusterClientOptions(seeds, options, REDIS_SCRIPTS, rootNodes));
}
export type HeraldCluster = ReturnType<typeof createHeraldCluster>;
export type NodeClient = Awaited<ReturnType<HeraldCluster['nodeClient']>>;
export type PrimaryNode = HeraldCluster['masters'][number];

type AnyNodeClient = Parameters<typeof destroyClient>[0];

/** The node clients a cluster client holds, as node-redis shows them (the broker's and the webhook drivers' alike). */
interface ClusterNodes {
  readonly masters: ReadonlyArray<{ client?: AnyNodeClient; pubSub?: { client: AnyNodeClient } }>;
  readonly replicas: ReadonlyArray<{ client?: AnyNodeClient }>;
  readonly pubSubNode?: { client: AnyNodeClient };
}

/**
 * Closes a cluster client as shutClient does, then destroys every node client it held. node-redis's
 * close() forgets them at once, before they have closed, so the cluster's destroy() after a close
 * still waiting on a silent node reached none, and the connections to that node stayed open until
 * it answered. Destroying one that closed does nothing.
 */
export async function shutCluster(cluster: ClusterNodes & ClosableClient, timeoutMs: number, logger: Logger): Promise<void> {
  const nodes: AnyNodeClient[] = [];
  for (const master of cluster.masters) nodes.push(...(master.client ? [master.client] : []), ...(master.pubSub ? [master.pubSub.client] : []));
  for (const replica of cluster.replicas) if (replica.client) nodes.push(replica.client);
  if (cluster.pubSubNode) nodes.push(cluster.pubSubNode.client);
  await shutClient(cluster, timeoutMs, logger);
  for (const node of nodes) destroyClient(node);
}

/** `call`, or DeadlineExpiredError(operation) once `timeoutMs` pass: how every call on a cluster client is bounded (NO_COMMAND_TIMEOUT). */
export function boundedCall<T>(operation: string, call: Promise<T>, timeoutMs: number): Promise<T> {
  return withDeadline(call, timeoutMs, () => new DeadlineExpiredError(operation, timeoutMs));
}

/** The seams' commands on a client (the cluster, routed by key, or one node): PUBLISH is SPUBLISH here. */
export function commandsOn(client: HeraldCluster | NodeClient): RedisCommands {
  const commands: Record<string, unknown> = {};
  for (const name of Object.keys(REDIS_SCRIPTS)) {
    commands[name] = (...args: unknown[]) => (client as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
  }
  commands.publish = (channel: string, message: string) => client.sPublish(channel, message);
  return commands as unknown as RedisCommands;
}

/**
 * The slot map inside a node-redis cluster client (its private `_slots`, cluster-slots.js).
 * `rediscover` connects to one node and asks CLUSTER SLOTS: `startWith`'s address first, else
 * known nodes in random order (those that look connected first), else the root nodes. It has no
 * deadline, and only one runs at a time: every call made meanwhile gets the running one's promise.
 */
interface ClusterSlotMap {
  rediscover(startWith?: NodeClient): Promise<void>;
}

/** A cluster client's slot map, as far as this node-redis version has one (see ClusterSlotMap). */
export function slotMapOf(cluster: HeraldCluster): Partial<ClusterSlotMap> | undefined {
  return (cluster as unknown as { _slots?: Partial<ClusterSlotMap> })._slots;
}

/** node-redis's event for listeners of a node that left the slot map (cluster-slots.js RESUBSCRIBE_LISTENERS_EVENT). */
export const RESUBSCRIBE_LISTENERS_EVENT = '__resubscribeListeners';

/** The primary node-redis currently routes the slot of a channel or key to (its node, see ownerOf). */
export function primaryFor(cluster: HeraldCluster, channelOrKey: string) {
  return cluster.slots[calculateSlot(channelOrKey)]?.master;
}

/** The address of the primary node-redis currently routes the slot of a channel or key to. */
export function ownerOf(cluster: HeraldCluster, channelOrKey: string): string | undefined {
  return primaryFor(cluster, channelOrKey)?.address;
}

/** Where a node client connects (its host and port), from its options. */
export function addressOf(client: NodeClient): NodeAddress | undefined {
  const socket = client.options?.socket as { host?: string; port?: number } | undefined;
  return socket?.host === undefined || socket.port === undefined ? undefined : { host: socket.host, port: socket.port };
}

/** A node client's address as node-redis names a node (`host:port`). */
export function addressText(client: NodeClient): string | undefined {
  const address = addressOf(client);
  return address === undefined ? undefined : `${address.host}:${address.port}`;
}

/** Slots the cluster client's map gives no primary: 0 once discovery found the whole cluster. */
export function unservedSlots(cluster: { slots: ReadonlyArray<unknown> }): number {
  let unserved = 0;
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) if (cluster.slots[slot] === undefined) unserved++;
  return unserved;
}

const CLUSTER_SLOTS = 16_384;

export function slotMapGap(unserved: number): string {
  return `the slot map leaves ${unserved} of ${CLUSTER_SLOTS} slots without a primary`;
}
