import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'node:net';
import { freePort, freePorts, waitFor } from './processes.mjs';

/**
 * A private, throwaway redis-server on a free port (or on `port`, to start one again where an
 * earlier one was): no persistence, stopped by its PID. Never the shared one on 6379.
 */
export async function startRedis({ port: askedPort } = {}) {
  const port = askedPort === undefined ? await freePort() : Number(askedPort);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => process.stderr.write(`redis-server failed to start: ${error.message}\n`));
  await waitFor(`redis-server on ${port}`, () => ping(port), 10_000);
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    cli: (args) => redisCli(port, args),
    /** SIGKILL for a crash; a stopped (SIGSTOP) server is continued so that it can exit. */
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, signal);
      process.kill(child.pid, 'SIGCONT');
      await exited;
    },
  };
}

/**
 * A private Redis Cluster of 3 primaries and 3 replicas on free ports (and their bus ports,
 * port + 10000), as pods would use in production: every publish waits for one replica (WAIT).
 * `nodeTimeoutMs` is cluster-node-timeout: how long a primary may be unreachable before its
 * replica takes over (Redis's default, 15 s, unless given).
 */
export async function startRedisCluster({ nodeTimeoutMs } = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  // Each node's cluster bus listens on its port + 10000.
  const ports = await freePorts(6, (port) => port + 10_000 < 65_536);
  // A node started again keeps its identity (its nodes-<port>.conf), so it rejoins as what the cluster says it is now.
  const startNode = (port) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', directory,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(directory, `nodes-${port}.conf`), '--repl-diskless-sync-delay', '0',
      ...(nodeTimeoutMs === undefined ? [] : ['--cluster-node-timeout', String(nodeTimeoutMs)])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const nodes = processGroup(ports.map((port) => [port, startNode]), directory);
  for (const port of ports) await waitFor(`redis-server on ${port}`, () => ping(port), 10_000);
  await redisCli(ports[0], ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes']);
  await waitFor('the Redis Cluster', async () => {
    for (const port of ports) {
      if (!(await redisCli(port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) return false;
      if (/slave\d+:.*state=(?!online)/.test(await redisCli(port, ['INFO', 'replication']))) return false;
    }
    return true;
  }, 30_000);
  return {
    seeds: ports.slice(0, 3).map((port) => `redis://127.0.0.1:${port}`).join(','),
    ports,
    get pids() {
      return ports.map(nodes.pidOf);
    },
    cli: redisCli,
    /** SIGKILLs the node on `port` (a crash); `restart` brings it back with its identity. */
    kill: nodes.kill,
    restart: (port) => nodes.restart(port),
    stop: nodes.stop,
  };
}

/**
 * A private Sentinel set: a primary, two replicas and three sentinels (quorum 2) on free ports,
 * with a short down-after (`downAfterMs`) so a silent primary is replaced within seconds.
 */
export async function startRedisSentinels({ downAfterMs = 1_000 } = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'bench-sentinel-'));
  const masterName = 'bench-primary';
  const all = await freePorts(6);
  const [ports, sentinelPorts] = [all.slice(0, 3), all.slice(3)];
  /** A data server: the first a primary, the others its replicas; started again, a primary until the sentinels say otherwise. */
  const startServer = (port, asReplica = port !== ports[0]) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', directory, '--repl-diskless-sync-delay', '0',
      ...(asReplica ? ['--replicaof', '127.0.0.1', String(ports[0])] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const startSentinel = (port) => {
    const file = join(directory, `sentinel-${port}.conf`);
    writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${directory}`, `sentinel monitor ${masterName} 127.0.0.1 ${ports[0]} 2`,
      `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`, `sentinel failover-timeout ${masterName} 5000`, `sentinel parallel-syncs ${masterName} 2`, ''].join('\n'));
    return spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'ignore', 'inherit'] });
  };
  const servers = processGroup(ports.map((port) => [port, startServer]), directory);
  for (const port of ports) await waitFor(`redis-server on ${port}`, () => ping(port), 10_000);
  const sentinels = processGroup(sentinelPorts.map((port) => [port, startSentinel]));
  /** The primary most sentinels name now. */
  const primary = async () => {
    const named = await Promise.all(sentinelPorts.map((port) => redisCli(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]).catch(() => '')));
    const counts = new Map();
    for (const port of named.filter(Boolean).map((answer) => Number(answer.split('\n')[1]))) counts.set(port, (counts.get(port) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  };
  for (const port of sentinelPorts) await waitFor(`redis-sentinel on ${port}`, () => ping(port), 10_000);
  // SENTINEL REPLICAS: each replica's fields as name and value lines; a replica seen up has flags `slave`.
  const replicasUp = async () => {
    const lines = (await redisCli(sentinelPorts[0], ['SENTINEL', 'REPLICAS', masterName])).split('\n');
    return lines.filter((line, index) => index % 2 === 0 && line === 'flags' && lines[index + 1] === 'slave').length;
  };
  await waitFor('the sentinels to see both replicas', async () => (await replicasUp()) === 2, 30_000, 100);
  return {
    sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
    masterName,
    ports,
    sentinelPorts,
    pidOf: servers.pidOf,
    cli: redisCli,
    primary,
    /** SIGKILLs the server on `port` (a crash); `restart` brings it back, a primary until the sentinels say otherwise. */
    kill: servers.kill,
    restart: (port) => servers.restart(port, (again) => startServer(again, false)),
    async stop() {
      await sentinels.stop();
      await servers.stop();
    },
  };
}

/**
 * The processes of one private Redis set, by port (`starters`: [port, start(port)]): each can be
 * killed (a crash) and started again; all are killed when this process exits; `stop` ends those
 * still running, continuing a stopped (SIGSTOP) one so that it can, then removes `directory`.
 */
function processGroup(starters, directory) {
  const children = new Map(starters.map(([port, start]) => [port, start(port)]));
  const starterOf = new Map(starters);
  const running = () => [...children.values()].filter((child) => child.exitCode === null && child.signalCode === null);
  process.once('exit', () => {
    for (const child of running()) process.kill(child.pid, 'SIGKILL');
  });
  const ended = (child, ...signals) => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for (const signal of signals) process.kill(child.pid, signal);
    return exited;
  };
  return {
    pidOf: (port) => children.get(port).pid,
    kill: (port) => ended(children.get(port), 'SIGKILL'),
    async restart(port, start = starterOf.get(port)) {
      children.set(port, start(port));
      await waitFor(`redis-server on ${port}`, () => ping(port), 10_000);
    },
    async stop() {
      await Promise.all(running().map((child) => ended(child, 'SIGTERM', 'SIGCONT')));
      if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** `redis-cli` against the server (or sentinel) on `port`: its output, trimmed. */
export async function redisCli(port, args) {
  return (await promisify(execFile)('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 })).stdout.trim();
}

/**
 * Whether a Redis answers PING on `port`. False when nothing listens, and also when something
 * that is not a ready Redis holds the port and closes or says nothing: without the close and the
 * timer, waitFor waited on such a port forever (a Cluster start hung with one node missing).
 */
function ping(port, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (answered) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
