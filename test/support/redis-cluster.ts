import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually';
import { RedisProcess, freeClusterPorts, redisCli, spawnRedisProcess } from './redis-process';
import { selfSignedCertificate } from './redis-server';

/**
 * A private Redis Cluster (7.0+) of 3 primaries and 3 replicas on free loopback ports, with a
 * short node timeout so a killed primary fails over within seconds. Start it once per suite:
 * it takes a few seconds.
 */
export interface RedisCluster {
  /** Comma-separated `redis://` seed URLs (with the password when one was set), as REDIS_CLUSTER_NODES takes them. */
  readonly seeds: string;
  readonly nodes: readonly RedisProcess[];
  readonly password: string | undefined;
  /** With `tls`: the self-signed certificate clients must trust (PEM file). */
  readonly caFile: string | undefined;
  /** The node currently serving `slot` as primary (from CLUSTER SHARDS on a live node). */
  primaryOf(slot: number): Promise<RedisProcess>;
  /** The current primaries. */
  primaries(): Promise<RedisProcess[]>;
  /** The replicas of a primary (from CLUSTER NODES on that primary). */
  replicasOf(primary: RedisProcess): Promise<RedisProcess[]>;
  /** Moves one slot, keys included, to another primary, as `redis-cli --cluster reshard` does. */
  migrateSlot(slot: number, to: RedisProcess): Promise<void>;
  /** Runs a redis-cli command on one node. */
  cli(node: RedisProcess, args: string[]): Promise<string>;
  /**
   * Stops the node's process (SIGSTOP) without closing anything, as a paused VM: its sockets stay
   * open, the kernel still accepts connections to it, and nothing answers. The cluster fails it
   * over after its node timeout. Until `thaw`, the harness treats it as not live.
   */
  freeze(node: RedisProcess): Promise<void>;
  /** Lets a frozen node run again (SIGCONT); a failed-over primary then rejoins as a replica. */
  thaw(node: RedisProcess): void;
  /**
   * Waits until every live (running, not frozen) node reports `cluster_state:ok`, each slot
   * range has a live primary and live replicas are in sync.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node (thawing frozen ones first) and removes the temp directory. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  password?: string;
  /** cluster-node-timeout: how long a silent primary is tolerated before its replica takes over. */
  nodeTimeoutMs?: number;
  /** TLS only, between nodes too, with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

const PRIMARIES = 3;

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const directory = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = await freeClusterPorts(PRIMARIES * 2);
  const nodes: RedisProcess[] = [];
  const certificate = options.tls ? selfSignedCertificate() : undefined;
  /** Frozen nodes and their process ids. */
  const frozen = new Map<RedisProcess, number>();
  const thaw = (node: RedisProcess) => {
    const pid = frozen.get(node);
    if (pid === undefined) return;
    frozen.delete(node);
    process.kill(pid, 'SIGCONT');
  };
  const stop = async () => {
    // A stopped process would not act on SIGTERM until continued.
    for (const node of [...frozen.keys()]) thaw(node);
    await Promise.all(nodes.map((node) => node.stop().catch(() => node.kill())));
    rmSync(directory, { recursive: true, force: true });
    certificate?.remove();
  };
  try {
    for (const port of ports) {
      const listen = certificate
        ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-cert-file', certificate.certFile,
           '--tls-key-file', certificate.keyFile, '--tls-ca-cert-file', certificate.certFile, '--tls-auth-clients', 'no']
        : ['--port', String(port)];
      const args = [
        ...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory,
        '--cluster-enabled', 'yes', '--cluster-config-file', join(directory, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000),
        // A replica of a killed primary takes over at once, however long it was cut off.
        '--cluster-replica-validity-factor', '0',
        // Replicas sync at once instead of after the default 5 s diskless delay.
        '--repl-diskless-sync-delay', '0',
      ];
      if (options.password !== undefined) args.push('--requirepass', options.password, '--masterauth', options.password);
      nodes.push(await spawnRedisProcess(args, port, certificate !== undefined));
    }
    await redisCli(ports[0], ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], options.password, certificate?.certFile);
  } catch (error) {
    await stop();
    throw error;
  }

  const cli = (node: RedisProcess, args: string[]) => redisCli(node.port, args, options.password, certificate?.certFile);
  const byPort = (port: number) => nodes.find((node) => node.port === port);
  const live = (node: RedisProcess | undefined) => node !== undefined && node.running && !frozen.has(node);

  /** slot range start/end -> primary port, from the view of a live node. */
  const shards = async (): Promise<Array<{ from: number; to: number; port: number }>> => {
    for (const node of nodes.filter(live)) {
      try {
        return parseClusterNodes(await cli(node, ['CLUSTER', 'NODES']));
      } catch {
        continue; // That node is going down too: ask the next one.
      }
    }
    throw new Error('No live cluster node answered CLUSTER NODES');
  };

  const cluster: RedisCluster = {
    seeds: ports
      .slice(0, PRIMARIES)
      .map((port) => `${certificate ? 'rediss' : 'redis'}://${options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`}127.0.0.1:${port}`)
      .join(','),
    nodes,
    password: options.password,
    caFile: certificate?.certFile,
    cli,
    async primaryOf(slot) {
      const shard = (await shards()).find((candidate) => candidate.from <= slot && slot <= candidate.to);
      const node = shard && byPort(shard.port);
      if (!node) throw new Error(`No primary serves slot ${slot}`);
      return node;
    },
    async primaries() {
      const ports = [...new Set((await shards()).map((shard) => shard.port))];
      return ports.map((port) => byPort(port)!).filter((node) => node !== undefined);
    },
    async replicasOf(primary) {
      const id = (await cli(primary, ['CLUSTER', 'MYID'])).trim();
      const ports = (await cli(primary, ['CLUSTER', 'NODES']))
        .split('\n')
        .map((line) => line.trim().split(' '))
        .filter((fields) => fields.length >= 8 && fields[2].split(',').includes('slave') && fields[3] === id)
        .map((fields) => Number(/:(\d+)@/.exec(fields[1])?.[1]));
      return ports.map((port) => byPort(port)).filter((node) => node !== undefined);
    },
    async migrateSlot(slot, to) {
      const from = await cluster.primaryOf(slot);
      const idOf = async (node: RedisProcess) => (await cli(node, ['CLUSTER', 'MYID'])).trim();
      const [fromId, toId] = [await idOf(from), await idOf(to)];
      await cli(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId]);
      await cli(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId]);
      for (;;) {
        const keys = (await cli(from, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100'])).split('\n').filter((key) => key.length > 0);
        if (keys.length === 0) break;
        const auth = options.password === undefined ? [] : ['AUTH', options.password];
        await cli(from, ['MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', ...auth, 'KEYS', ...keys]);
      }
      for (const node of await cluster.primaries()) await cli(node, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
    },
    async freeze(node) {
      const pid = Number(/process_id:(\d+)/.exec(await cli(node, ['INFO', 'server']))?.[1]);
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`node ${node.port} did not say its process id`);
      frozen.set(node, pid);
      process.kill(pid, 'SIGSTOP');
    },
    thaw,
    async waitHealthy(timeoutMs = 30_000) {
      await eventually(
        async () => {
          for (const node of nodes.filter(live)) {
            const info = await cli(node, ['CLUSTER', 'INFO']);
            if (!info.includes('cluster_state:ok')) throw new Error(`node ${node.port}: ${info.split('\n')[0]}`);
            // A replica still syncing would not acknowledge WAIT yet.
            const replication = await cli(node, ['INFO', 'replication']);
            if (/slave\d+:.*state=(?!online)/.test(replication)) throw new Error(`a replica of ${node.port} is not in sync yet`);
          }
          const covering = await shards();
          const covered = covering.reduce((total, shard) => total + (shard.to - shard.from + 1), 0);
          if (covered !== 16384) throw new Error(`only ${covered} of 16384 slots have a primary`);
          for (const shard of covering) {
            if (!live(byPort(shard.port))) throw new Error(`slots ${shard.from}-${shard.to} still on dead or frozen primary ${shard.port}`);
          }
        },
        timeoutMs,
        100,
      );
    },
    stop,
  };
  await cluster.waitHealthy();
  return cluster;
}

/**
 * `CLUSTER NODES` prints one line per node: `<id> <ip:port@bus> <flags> <primary id> <ping>
 * <pong> <epoch> <link> <slot ranges...>`; primaries (not failed) own the ranges listed.
 */
function parseClusterNodes(text: string): Array<{ from: number; to: number; port: number }> {
  const shards: Array<{ from: number; to: number; port: number }> = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 9 || !fields[2].split(',').includes('master') || fields[2].includes('fail')) continue;
    const port = Number(/:(\d+)@/.exec(fields[1])?.[1]);
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue; // A slot being migrated or imported.
      const [from, to = from] = range.split('-').map(Number);
      shards.push({ from, to, port });
    }
  }
  return shards;
}
