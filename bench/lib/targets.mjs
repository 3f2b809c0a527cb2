import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_JWT_SECRET } from './tokens.mjs';
import { freePort, rssBytes, sleep, waitFor } from './processes.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('../servers/probe.mjs', import.meta.url));

/** Every server the benchmark compares. `nodes: 2` targets share a private Redis. */
export const TARGETS = {
  herald: { label: 'Herald', family: 'herald', protocol: 'herald', nodes: 1, entry: 'dist/main.js' },
  'herald-redis': { label: 'Herald x2 + Redis', family: 'herald', protocol: 'herald', nodes: 2, redis: true, entry: 'dist/main.js' },
  'herald-cluster': { label: 'Herald x2 + Redis Cluster', family: 'herald', protocol: 'herald', nodes: 2, redisCluster: true, entry: 'dist/main.js' },
  ws: { label: 'raw ws', family: 'ws', protocol: 'raw', nodes: 1, entry: 'bench/servers/raw-ws.server.mjs' },
  'ws-redis': { label: 'raw ws x2 + Redis', family: 'ws', protocol: 'raw', nodes: 2, redis: true, entry: 'bench/servers/raw-ws.server.mjs' },
  socketio: { label: 'Socket.IO', family: 'socketio', protocol: 'socketio', nodes: 1, entry: 'bench/servers/socketio.server.mjs' },
  'socketio-redis': { label: 'Socket.IO x2 + redis-adapter', family: 'socketio', protocol: 'socketio', nodes: 2, redis: true, entry: 'bench/servers/socketio.server.mjs' },
};

let prefixCounter = 0;
/** Every node process started and not yet seen to exit, so a crashed run still stops them. */
const running = new Set();

/** Last resort on exit: SIGKILL, by PID, whatever this process started and is still running. */
export function killRunning() {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }
}

/**
 * Starts a target's nodes and waits until each answers /healthz (and Herald's /readyz, so its
 * broker is connected). `options.profileDir` adds --cpu-prof (written when the node exits);
 * `options.heraldEntry` runs Herald from a snapshot of dist/ (see run.mjs); `options.nodes`
 * overrides how many nodes a Redis target runs (the scale run's five pods), `options.redisNodes`
 * too but leaves single-node targets alone (BENCH_REDIS_NODES).
 */
export async function startTarget(name, { redisUrl, redisPid, redisCluster, logDir, profileDir, windowProfileDir, windowProfileKind, heraldEntry, nodes: nodesAsked, redisNodes, splitThreads = false, nodeArgs = [], heraldEnv = {}, perfDir, env = {} } = {}) {
  const target = TARGETS[name];
  const nodeCount = nodesAsked ?? (target.redis || target.redisCluster ? redisNodes : undefined);
  if (nodeCount !== undefined && nodeCount !== target.nodes && !target.redis && !target.redisCluster) throw new Error(`${name} runs on one node: only Redis targets take several`);
  if (target.redis && !redisUrl) throw new Error(`${name} needs Redis`);
  if (target.redisCluster && !redisCluster) throw new Error(`${name} needs a Redis Cluster`);
  const prefix = `bench${process.pid}-${++prefixCounter}`;
  const nodes = [];
  for (let i = 0; i < (nodeCount ?? target.nodes); i++) {
    const port = await freePort();
    const args = ['--expose-gc', '--import', PROBE];
    if (profileDir && target.family === 'herald') args.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
    // BENCH_PERF (measure.mjs): V8 writes where its compiled code lies, so perf can name JavaScript frames.
    if (perfDir) args.push('--perf-prof', `--perf-prof-path=${perfDir}`, '--interpreted-frames-native-stack');
    // BENCH_NODE_ARGS (bench.config.mjs): the same extra V8 or Node flags for every target's nodes.
    args.push(...nodeArgs);
    const herald = target.family === 'herald';
    args.push(herald && heraldEntry ? heraldEntry : join(ROOT, target.entry));
    const log = createWriteStream(join(logDir, `${name}-${prefix}-${i}.log`));
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        PATH: process.env.PATH,
        // A snapshot of dist/ outside the tree still resolves the project's packages.
        ...(herald && heraldEntry ? { NODE_PATH: join(ROOT, 'node_modules') } : {}),
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: BENCH_JWT_SECRET,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        MAX_CONNECTIONS: '200000',
        DRAIN_DELAY_MS: '0',
        DRAIN_SPREAD_MS: '1000',
        ...(target.redis ? { REDIS_URL: redisUrl, REDIS_PREFIX: `${prefix}:` } : {}),
        ...(target.redisCluster ? { REDIS_CLUSTER_NODES: redisCluster.seeds, REDIS_PREFIX: `${prefix}:` } : {}),
        // BENCH_HERALD_ENV (bench.config.mjs): settings for Herald's nodes only.
        ...(herald ? heraldEnv : {}),
        ...env,
      },
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    running.add(child);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    void exited.then(() => running.delete(child));
    nodes.push({ index: i, port, pid: child.pid, child, exited });
  }
  const handle = {
    name,
    target,
    nodes,
    /** The shared Redis server's PID, for targets that use it (its CPU is measured apart). */
    redisPid: target.redis ? redisPid : target.redisCluster ? redisCluster.pids : undefined,
    pids: () => nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null).map((node) => node.pid),
    /** RSS and V8 heap after a full GC, asked of the node itself (servers/probe.mjs). */
    memory: (node = nodes[0]) => memoryOf(node),
    /** The same summed over every node: what the target as a whole holds. */
    async memoryOfAll() {
      const each = await Promise.all(nodes.map((node) => memoryOf(node)));
      return { rss: each.reduce((sum, m) => sum + m.rss, 0), heapUsed: each.reduce((sum, m) => sum + m.heapUsed, 0), perNode: each.map((m) => ({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external })) };
    },
    rss: (node = nodes[0]) => rssBytes(node.pid),
    /** SIGTERM (the node drains) and wait; SIGKILL after `timeoutMs`. */
    async stopNode(node, timeoutMs = 20_000) {
      if (node.child.exitCode !== null || node.child.signalCode !== null) return node.exited;
      process.kill(node.pid, 'SIGTERM');
      const result = await Promise.race([node.exited, sleep(timeoutMs).then(() => undefined)]);
      if (result) return result;
      process.kill(node.pid, 'SIGKILL');
      return node.exited;
    },
    /** With BENCH_PROFILE=window: profiles every node over each CpuWindow (measure.mjs). */
    windowProfiler: windowProfileDir ? new WindowProfiler(nodes, join(windowProfileDir, `${name}-${prefix}`), windowProfileKind) : undefined,
    /** What each CpuWindow over this target also records (BENCH_THREADS, BENCH_PERF; measure.mjs). */
    windowExtras: { splitThreads, perfDir },
    async stop() {
      await handle.windowProfiler?.written();
      await Promise.all(nodes.map((node) => handle.stopNode(node)));
    },
  };
  try {
    for (const node of nodes) {
      await waitFor(`${name} node ${node.index} on ${node.port}`, async () => {
        if (node.child.exitCode !== null) throw new Error(`${name} node ${node.index} exited with ${node.child.exitCode}; see ${logDir}`);
        return (await status(node.port, '/healthz')) === 200 && (target.family !== 'herald' || (await status(node.port, '/readyz')) === 200);
      }, 30_000, 100);
    }
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

function status(port, path) {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

/**
 * CPU or allocation profiles of a target's nodes over measured windows only (servers/probe.mjs),
 * one file per node and window: `<dir>/<target>-<prefix>-w<window>-node<index>.cpuprofile` (or
 * `.heapprofile`, which Chrome DevTools opens too).
 */
class WindowProfiler {
  constructor(nodes, stem, kind = 'cpu') {
    this.nodes = nodes;
    this.stem = stem;
    this.kind = kind;
    this.windows = 0;
    this.pending = [];
  }

  start() {
    this.windows++;
    for (const node of this.live()) node.child.send({ type: 'profile-start', kind: this.kind });
  }

  stop() {
    for (const node of this.live()) {
      const file = `${this.stem}-w${this.windows}-node${node.index}.${this.kind === 'alloc' ? 'heapprofile' : 'cpuprofile'}`;
      this.pending.push(nextMessage(node, 'profile-written').catch((error) => process.stderr.write(`profile of node ${node.index}: ${error.message}\n`)));
      node.child.send({ type: 'profile-stop', file });
    }
  }

  /** Waits until every profile asked for is on disk. */
  async written() {
    await Promise.all(this.pending);
  }

  live() {
    return this.nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  }
}

/** Resolves with the node's next message of type `answer`. */
function nextMessage(node, answer) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${answer} timed out`)), 30_000);
    const onMessage = (message) => {
      if (message?.type !== answer) return;
      clearTimeout(timer);
      node.child.off('message', onMessage);
      if (message.error) reject(new Error(message.error));
      else resolve(message);
    };
    node.child.on('message', onMessage);
  });
}

/** A node's RSS and V8 heap after a full GC, asked of the process itself (servers/probe.mjs). */
export function memoryOf(node) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('memory probe timed out')), 30_000);
    const onMessage = (message) => {
      if (message?.type !== 'memory') return;
      clearTimeout(timer);
      node.child.off('message', onMessage);
      resolve(message);
    };
    node.child.on('message', onMessage);
    node.child.send({ type: 'memory' });
  });
}

