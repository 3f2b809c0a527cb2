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
  /** The cluster's members (a node removed with `removeNode` is no longer one). */
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
  /**
   * One replica of a primary, once its CLUSTER NODES lists one: after a failover the demoted
   * primary reports as the new one's replica only when gossip has told it, after waitHealthy.
   */
  replicaOf(primary: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /** Moves one slot, keys included, to another primary, as `redis-cli --cluster reshard` does. */
  migrateSlot(slot: number, to: RedisProcess): Promise<void>;
  /** Runs a redis-cli command on one node. */
  cli(node: RedisProcess, args: string[]): Promise<string>;
  /** Starts one more node and adds it as a primary serving no slot (as `redis-cli --cluster add-node` does). */
  addPrimary(): Promise<RedisProcess>;
  /**
   * Takes a node serving no slot out of the cluster as an operator scales in: `redis-cli --cluster
   * del-node`, which has every other node forget it and resets it. Its process keeps running
   * (stopped with the cluster).
   */
  removeNode(node: RedisProcess): Promise<void>;
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
  /** Processes started here that are no (longer) members of the cluster. */
  const removed: RedisProcess[] = [];
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
    await Promise.all([...nodes, ...removed].map((node) => node.stop().catch(() => node.kill())));
    rmSync(directory, { recursive: true, force: true });
    certificate?.remove();
  };
  const spawnNode = (port: number) => {
    const listen = certificate
      ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-cert-file', certificate.certFile,
         '--tls-key-file', certificate.keyFile, '--tls-ca-cert-file', certificate.certFile, '--tls-auth-clients', 'no']
      : ['--port', String(port)];
    const args = [
      ...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(directory, `nodes-${port}.conf`),
      // Each node its own: a replica writes the RDB it syncs, and a node started later loaded
      // another's, claiming the slots of its keys (an added node came up owning slots).
      '--dbfilename', `dump-${port}.rdb`,
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000),
      // A replica of a killed primary takes over at once, however long it was cut off.
      '--cluster-replica-validity-factor', '0',
      // Replicas sync at once instead of after the default 5 s diskless delay.
      '--repl-diskless-sync-delay', '0',
    ];
    if (options.password !== undefined) args.push('--requirepass', options.password, '--masterauth', options.password);
    return spawnRedisProcess(args, port, certificate !== undefined);
  };
  try {
    for (const port of ports) nodes.push(await spawnNode(port));
    await redisCli(ports[0], ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], options.password, certificate?.certFile);
  } catch (error) {
    await stop();
    throw error;
  }

  const cli = (node: RedisProcess, args: string[]) => redisCli(node.port, args, options.password, certificate?.certFile);
  const idOf = async (node: RedisProcess) => (await cli(node, ['CLUSTER', 'MYID'])).trim();
  /** redis-cli prints a refused command's error and exits 0. */
  const setSlot = async (node: RedisProcess, args: string[]) => {
    const reply = await cli(node, ['CLUSTER', 'SETSLOT', ...args]);
    if (!reply.startsWith('OK')) throw new Error(`CLUSTER SETSLOT ${args.join(' ')} on node ${node.port}: ${reply.trim()}`);
  };
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
    async replicaOf(primary, timeoutMs = 20_000) {
      let replica: RedisProcess | undefined;
      await eventually(
        async () => {
          [replica] = await cluster.replicasOf(primary);
          if (!replica) throw new Error(`primary ${primary.port} lists no replica yet`);
        },
        timeoutMs,
        100,
      );
      return replica!;
    },
    async migrateSlot(slot, to) {
      const from = await cluster.primaryOf(slot);
      const [fromId, toId] = [await idOf(from), await idOf(to)];
      await setSlot(to, [String(slot), 'IMPORTING', fromId]);
      await setSlot(from, [String(slot), 'MIGRATING', toId]);
      for (;;) {
        const keys = (await cli(from, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100'])).split('\n').filter((key) => key.length > 0);
        if (keys.length === 0) break;
        const auth = options.password === undefined ? [] : ['AUTH', options.password];
        await cli(from, ['MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', ...auth, 'KEYS', ...keys]);
      }
      // The target first, as redis-cli does (one that served no slot is no primary of `primaries()`
      // yet). Then the source and the others as a shortcut for gossip, refused by any of them
      // that is a replica by now: a source that gave up its last slot turns into the target's
      // replica at once (cluster-allow-replica-migration), and a view may still list a demoted primary.
      await setSlot(to, [String(slot), 'NODE', toId]);
      for (const node of new Set([from, ...(await cluster.primaries())])) {
        if (node !== to) await cli(node, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
      }
    },
    async addPrimary() {
      const [port] = await freeClusterPorts(1);
      const node = await spawnNode(port);
      // What `redis-cli --cluster add-node` does, without its check of the whole cluster first,
      // which fails while the nodes still gossip about an earlier test's failover.
      nodes.push(node);
      await cli(node, ['CLUSTER', 'MEET', '127.0.0.1', String(nodes.find(live)!.port)]);
      // Every member and the new node know each other before it is given a slot (SETSLOT names nodes by id).
      const ids = await Promise.all(nodes.filter(live).map(idOf));
      await eventually(async () => {
        for (const member of nodes.filter(live)) {
          const known = await cli(member, ['CLUSTER', 'NODES']);
          const unknown = ids.filter((id) => !known.includes(id));
          if (unknown.length > 0) throw new Error(`node ${member.port} does not know ${unknown.join(', ')} yet`);
        }
      }, 10_000, 50);
      // It refuses every call (CLUSTERDOWN) until it finds its cluster state ok.
      await cluster.waitHealthy();
      return node;
    },
    async removeNode(node) {
      const seed = nodes.find((member) => member !== node && live(member));
      if (!seed) throw new Error('No other live node to remove it from');
      await cli(seed, ['--cluster', 'del-node', `127.0.0.1:${seed.port}`, await idOf(node)]);
      nodes.splice(nodes.indexOf(node), 1);
      removed.push(node);
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
