#!/usr/bin/env node
/**
 * Scale run: Herald in the production shape at the size issue #14 asks about. SCALE_PODS pods
 * (default 5) on one private Redis, SCALE_CONNECTIONS authenticated connections (default
 * 100,000) spread evenly over the pods, every one of them in the same room. Measures:
 *
 *   - admission: wall time until every connection has joined, server and Redis CPU per connect;
 *   - idle: pod and Redis CPU while the connections just sit there (heartbeats, presence refresh);
 *   - memory: RSS and V8 heap per connection per pod after a full GC, Redis memory;
 *   - SCALE_BROADCASTS broadcasts (default 5), SCALE_GAP_MS apart, published over HTTP to the
 *     first pod: time until the last member has each, loss (must be 0) and order.
 *
 * A process holds only as many sockets as its open-file limit allows, so the clients live in
 * load-generator child processes (lib/scale-generator.mjs) of at most SCALE_PER_GENERATOR
 * sockets each. The limit also binds the pods: each must hold its share of the connections plus
 * its own files, which the run checks before it starts.
 *
 *   npm run build && npm run bench:scale                         # 100,000 on five pods
 *   SCALE_CONNECTIONS=5000 SCALE_PODS=2 npm run bench:scale      # a quick look
 *
 * Writes docs/benchmarks/scale-<connections>-<pods>pods.json (SCALE_OUT=dir to write elsewhere)
 * and re-renders docs/benchmarks.md, whose "connections at scale" section lists every such
 * file. Exits 1 when a connection could not join, a broadcast lost a message or delivered one
 * out of order, or the run could not finish (the error is recorded in the file too).
 */
import { fork } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { get, request } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { Fleet } from './lib/fleet.mjs';
import { Histogram } from './lib/histogram.mjs';
import { round } from './lib/measure.mjs';
import { openFilesLimit, sleep, totalCpuMicros } from './lib/processes.mjs';
import { startRedis } from './lib/redis.mjs';
import { killRunning, startTarget } from './lib/targets.mjs';
import { publisherToken } from './lib/tokens.mjs';
import { render } from './render.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GENERATOR = fileURLToPath(new URL('./lib/scale-generator.mjs', import.meta.url));
const ROOM = 'bench:scale';
const PAD = 'x'.repeat(96);
/** Files a pod may open besides its connections (HTTP requests, Redis reconnects) on top of what it holds idle. */
const POD_FILE_HEADROOM = 64;
/** USER_HZ: /proc/stat counts in these. */
const CLOCK_TICKS_PER_S = 100;
/** Files a load generator holds besides its sockets. */
const GENERATOR_FILE_HEADROOM = 200;

const env = process.env;
/** A shape or setting that cannot run: said in one line, exit code 1, nothing started. */
const refuse = (message) => {
  process.stderr.write(`bench:scale: ${message}\n`);
  process.exit(1);
};
const int = (name, fallback, min = 1) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min) refuse(`${name} must be an integer >= ${min}, got ${env[name]}`);
  return value;
};
const fdLimit = openFilesLimit();
const config = {
  connections: int('SCALE_CONNECTIONS', 100_000),
  pods: int('SCALE_PODS', 5),
  perGenerator: int('SCALE_PER_GENERATOR', Math.min(19_000, fdLimit - GENERATOR_FILE_HEADROOM)),
  broadcasts: int('SCALE_BROADCASTS', 5),
  gapMs: int('SCALE_GAP_MS', 3000, 0),
  idleMs: int('SCALE_IDLE_MS', 30_000, 0),
  warmup: int('SCALE_WARMUP', 1000, 0),
  concurrency: int('SCALE_CONCURRENCY', 128),
  retries: int('SCALE_RETRIES', 3, 0),
  admissionTimeoutMs: int('SCALE_ADMISSION_TIMEOUT_MS', 900_000),
  deliveryTimeoutMs: int('SCALE_DELIVERY_TIMEOUT_MS', 120_000),
};
const outDir = env.SCALE_OUT ?? join(ROOT, 'docs', 'benchmarks');
const log = (message) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

if (config.perGenerator > fdLimit - GENERATOR_FILE_HEADROOM) {
  refuse(`SCALE_PER_GENERATOR=${config.perGenerator} does not fit this process's open-file limit (${fdLimit}): at most ${fdLimit - GENERATOR_FILE_HEADROOM}`);
}
const perPod = Math.ceil(config.connections / config.pods);
// Fail before starting anything when the pods cannot possibly hold their share.
if (perPod > fdLimit - POD_FILE_HEADROOM) {
  refuse(
    `${config.connections} connections over ${config.pods} pods is ${perPod} sockets per pod, but a process may open only ${fdLimit} files here ` +
      `(ulimit -n; hard limit ${hardFilesLimit()}): use SCALE_PODS=${Math.ceil(config.connections / (fdLimit - POD_FILE_HEADROOM - 50))} or more, or raise the hard limit`,
  );
}

const generatorCount = Math.ceil(config.connections / config.perGenerator);
const results = {
  startedAt: new Date().toISOString(),
  command: commandLine(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
  limits: { openFiles: fdLimit, openFilesHard: hardFilesLimit() },
  config: { ...config, generators: generatorCount, heartbeatMs: 'default' },
};

if (!existsSync(join(ROOT, 'dist', 'main.js'))) refuse('dist/main.js is missing: run `npm run build` first');
const workDir = mkdtempSync(join(tmpdir(), 'herald-scale-'));
cpSync(join(ROOT, 'dist'), join(workDir, 'dist'), { recursive: true });
// dist/ reads the version from the package.json next to it.
cpSync(join(ROOT, 'package.json'), join(workDir, 'package.json'));
const generators = [];
process.once('exit', () => {
  for (const generator of generators) if (generator.child.exitCode === null) generator.child.kill('SIGKILL');
  killRunning();
});
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const redis = await startRedis();
const redisClient = createClient({ url: redis.url });
await redisClient.connect();
log(`Private Redis on ${redis.url}; logs in ${workDir}; open-file limit ${fdLimit}`);
let target;
const failures = [];
try {
  target = await startTarget('herald-redis', { redisUrl: redis.url, redisPid: redis.pid, logDir: workDir, heraldEntry: join(workDir, 'dist', 'main.js'), nodes: config.pods });
  const pods = target.nodes;
  const podFiles = Math.max(...pods.map((pod) => readdirSync(`/proc/${pod.pid}/fd`).length));
  results.limits.podFilesIdle = podFiles;
  if (perPod + podFiles + POD_FILE_HEADROOM > fdLimit) {
    throw new Error(`each pod holds ${podFiles} files idle; ${perPod} connections more exceed the open-file limit ${fdLimit}: use SCALE_PODS=${Math.ceil(config.connections / (fdLimit - podFiles - POD_FILE_HEADROOM))} or more`);
  }
  log(`${config.pods} pods on ports ${pods.map((pod) => pod.port).join(', ')} (${podFiles} files open each, idle)`);

  // What the first connections cause once (JIT, young generation growing) is the process's, not each connection's.
  if (config.warmup > 0) {
    const warm = new Fleet(target.target, pods[0]);
    await warm.connect({ count: config.warmup, prefix: 'warm', rooms: [ROOM], nodes: pods });
    warm.closeAll();
    await sleep(2000);
  }
  const base = await Promise.all(pods.map((pod) => target.memory(pod)));
  const redisBase = await redisMemory();

  // Admission: every generator connects its share at once.
  for (let i = 0, offset = 0; i < generatorCount; i++) {
    const count = Math.floor(config.connections / generatorCount) + (i < config.connections % generatorCount ? 1 : 0);
    generators.push(startGenerator(i, count, offset));
    offset += count;
  }
  await Promise.all(generators.map((g) => g.ask({ type: 'stats' }, 'stats')));
  const admissionCpu = await cpuWindow(target);
  const admissionStarted = performance.now();
  const progress = setInterval(() => {
    const connected = generators.reduce((sum, g) => sum + g.connected, 0);
    log(`  connected ${connected} / ${config.connections} (${round((connected / (performance.now() - admissionStarted)) * 1000, 0)}/s)`);
  }, 5000);
  let admitted;
  try {
    admitted = await Promise.all(
      generators.map((g) => {
        const done = g.next('connected', config.admissionTimeoutMs);
        g.child.send({ type: 'connect', count: g.count, offset: g.offset, ports: pods.map((pod) => pod.port), room: ROOM, concurrency: config.concurrency, retries: config.retries });
        return done;
      }),
    );
  } finally {
    clearInterval(progress);
  }
  const admissionMs = performance.now() - admissionStarted;
  const { cpuUs: admissionCpuUs, redisCpuUs: admissionRedisCpuUs, generatorCpuUs, machineBusyPercent } = await admissionCpu.stop();
  const connected = admitted.reduce((sum, a) => sum + a.connected, 0);
  const perPort = {};
  for (const a of admitted) for (const [port, n] of Object.entries(a.perPort)) perPort[port] = (perPort[port] ?? 0) + n;
  results.admission = {
    connected,
    failed: admitted.reduce((sum, a) => sum + a.failed, 0),
    retried: admitted.reduce((sum, a) => sum + a.retried, 0),
    errors: Object.entries(
      admitted.flatMap((a) => a.errors).reduce((counts, [reason, n]) => ({ ...counts, [reason]: (counts[reason] ?? 0) + n }), {}),
    ).sort((a, b) => b[1] - a[1]),
    wallMs: round(admissionMs, 0),
    connectsPerS: round((connected / admissionMs) * 1000, 0),
    podCpuUsPerConnect: round(admissionCpuUs / Math.max(1, connected), 1),
    redisCpuUsPerConnect: round(admissionRedisCpuUs / Math.max(1, connected), 1),
    generatorCpuUsPerConnect: round(generatorCpuUs / Math.max(1, connected), 1),
    machineBusyPercent: round(machineBusyPercent, 0),
    perPod: pods.map((pod) => perPort[pod.port] ?? 0),
  };
  log(`Admission: ${connected} joined in ${round(admissionMs / 1000, 1)} s (${results.admission.connectsPerS}/s), ${results.admission.failed} failed, ${results.admission.retried} retried; pods ${results.admission.podCpuUsPerConnect} us CPU/connect, Redis ${results.admission.redisCpuUsPerConnect} us, load generators ${results.admission.generatorCpuUsPerConnect} us; machine ${results.admission.machineBusyPercent}% busy`);
  if (results.admission.errors.length > 0) log(`  errors: ${JSON.stringify(results.admission.errors)}`);
  results.admission.podsReport = await Promise.all(pods.map((pod) => connectionGauge(pod.port)));

  // Idle: heartbeats (every HEARTBEAT_MS) and presence refresh (every HEARTBEAT_MS / 2) go on.
  await sleep(2000);
  const idleCpu = await cpuWindow(target);
  await sleep(config.idleMs);
  const idle = await idleCpu.stop();
  results.idle = {
    windowMs: round(idle.wallMs, 0),
    podCpuPercent: round((idle.cpuUs / 10 / idle.wallMs) / pods.length, 2),
    podCpuUsPerConnPerS: round(idle.cpuUs / connected / (idle.wallMs / 1000), 3),
    redisCpuPercent: round(idle.redisCpuUs / 10 / idle.wallMs, 2),
    generatorCpuPercent: round(idle.generatorCpuUs / 10 / idle.wallMs, 2),
    machineBusyPercent: round(idle.machineBusyPercent, 0),
  };
  log(`Idle ${round(idle.wallMs / 1000, 0)} s: ${results.idle.podCpuPercent}% CPU per pod, Redis ${results.idle.redisCpuPercent}%; machine ${results.idle.machineBusyPercent}% busy`);

  const memory = await Promise.all(pods.map((pod) => target.memory(pod)));
  const redisAfter = await redisMemory();
  results.memory = {
    pods: pods.map((pod, i) => {
      const connections = results.admission.perPod[i];
      return {
        connections,
        baseRssMb: round(base[i].rss / 2 ** 20, 1),
        rssMb: round(memory[i].rss / 2 ** 20, 1),
        heapUsedMb: round(memory[i].heapUsed / 2 ** 20, 1),
        rssPerConnKb: round((memory[i].rss - base[i].rss) / Math.max(1, connections) / 1024),
        heapPerConnKb: round((memory[i].heapUsed - base[i].heapUsed) / Math.max(1, connections) / 1024),
      };
    }),
    rssPerConnKb: round(sum(memory.map((m, i) => m.rss - base[i].rss)) / connected / 1024),
    heapPerConnKb: round(sum(memory.map((m, i) => m.heapUsed - base[i].heapUsed)) / connected / 1024),
    redis: {
      usedMemoryMb: round(redisAfter.used / 2 ** 20, 1),
      rssMb: round(redisAfter.rss / 2 ** 20, 1),
      bytesPerConn: round((redisAfter.used - redisBase.used) / connected, 0),
      keys: await redisClient.dbSize(),
    },
  };
  log(`Memory: ${results.memory.rssPerConnKb} KB RSS/conn (${results.memory.pods.map((p) => p.rssPerConnKb).join(' / ')} per pod), ${results.memory.heapPerConnKb} KB heap/conn; Redis ${results.memory.redis.usedMemoryMb} MB (${results.memory.redis.bytesPerConn} B/conn)`);

  // Broadcasts, one at a time: each to every member before the next, SCALE_GAP_MS apart.
  results.broadcasts = [];
  for (let n = 0; n < config.broadcasts; n++) {
    if (n > 0) await sleep(config.gapMs);
    await Promise.all(generators.map((g) => g.ask({ type: 'expect' }, 'expecting')));
    const deliveries = generators.map((g) => g.next('delivered', config.deliveryTimeoutMs).catch(() => g.ask({ type: 'stats' }, 'stats')));
    const cpu = await cpuWindow(target);
    const sentAt = performance.timeOrigin + performance.now();
    const body = JSON.stringify({ rooms: [ROOM], type: 'bench', payload: { bench: [n, sentAt], text: PAD } });
    const { status, error } = await publish(pods[0].port, body);
    const publishMs = performance.timeOrigin + performance.now() - sentAt;
    if (status !== 202) {
      // Not accepted: nothing is owed to anyone. Whatever arrived anyway is counted below.
      for (const g of generators) g.drop('delivered');
      await sleep(2000);
    }
    const each = status === 202 ? await Promise.all(deliveries) : await Promise.all(generators.map((g) => g.ask({ type: 'stats' }, 'stats')));
    const { cpuUs, redisCpuUs, generatorCpuUs, machineBusyCoreMs, machineBusyPercent } = await cpu.stop();
    const histogram = new Histogram();
    for (const e of each) histogram.merge(e.histogram);
    const latency = histogram.summaryMs();
    const expected = status === 202 ? sum(each.map((e) => e.expected)) : 0;
    const received = sum(each.map((e) => e.received));
    const broadcast = {
      status,
      ...(error ? { error } : {}),
      publishMs: round(publishMs),
      expected,
      received,
      lost: Math.max(0, expected - received),
      outOfOrder: sum(each.map((e) => e.outOfOrder)),
      lastMemberMs: latency.max,
      p50Ms: latency.p50,
      p99Ms: latency.p99,
      podCpuMs: round(cpuUs / 1000, 1),
      redisCpuUs: round(redisCpuUs, 0),
      generatorCpuMs: round(generatorCpuUs / 1000, 1),
      otherCpuMs: round(Math.max(0, machineBusyCoreMs - (cpuUs + redisCpuUs + generatorCpuUs) / 1000), 0),
      machineBusyPercent: round(machineBusyPercent, 0),
    };
    results.broadcasts.push(broadcast);
    log(`Broadcast ${n + 1}: HTTP ${status}${error ? ` (${error})` : ''} in ${broadcast.publishMs} ms; last of ${received} / ${expected} members after ${broadcast.lastMemberMs} ms (p50 ${broadcast.p50Ms}, p99 ${broadcast.p99Ms}); lost ${broadcast.lost}, out of order ${broadcast.outOfOrder}; CPU ms: pods ${broadcast.podCpuMs}, Redis ${round(redisCpuUs / 1000, 1)}, load generators ${broadcast.generatorCpuMs}, everything else ${broadcast.otherCpuMs}; machine ${broadcast.machineBusyPercent}% busy`);
  }
  // Before the teardown, whose closes the pods log too.
  results.podLog = podLogSummary(workDir);
  if (results.podLog.length > 0) log(`Pod log (warnings and errors, by message): ${JSON.stringify(results.podLog)}`);
  const finalStats = await Promise.all(generators.map((g) => g.ask({ type: 'stats' }, 'stats')));
  results.closedUnexpectedly = sum(finalStats.map((s) => s.closedUnexpectedly));
  results.podsExited = pods.filter((pod) => pod.child.exitCode !== null || pod.child.signalCode !== null).length;

  if (results.admission.failed > 0) failures.push(`${results.admission.failed} connections never joined`);
  for (const b of results.broadcasts.filter((b) => b.status !== 202)) failures.push(`a publish was not accepted: ${b.error ?? `HTTP ${b.status}`}`);
  const lost = sum(results.broadcasts.map((b) => b.lost));
  if (lost > 0) failures.push(`${lost} deliveries lost`);
  const outOfOrder = sum(results.broadcasts.map((b) => b.outOfOrder));
  if (outOfOrder > 0) failures.push(`${outOfOrder} deliveries out of order`);
  if (results.closedUnexpectedly > 0) failures.push(`${results.closedUnexpectedly} connections closed by the server`);
  if (results.podsExited > 0) failures.push(`${results.podsExited} pods exited`);
} catch (error) {
  failures.push(`the run stopped: ${error.message}`);
  results.podLog ??= podLogSummary(workDir);
  process.stderr.write(`${error.stack}\n`);
} finally {
  results.passed = failures.length === 0;
  results.failures = failures;
  await Promise.all(generators.map((g) => g.close()));
  await target?.stop();
  await redisClient.quit();
  await redis.stop();
}
results.finishedAt = new Date().toISOString();
mkdirSync(outDir, { recursive: true });
const scalePath = join(outDir, `scale-${config.connections}-${config.pods}pods.json`);
writeFileSync(scalePath, `${JSON.stringify(results, null, 2)}\n`);
log(`Results in ${scalePath}`);
if (existsSync(join(outDir, 'results.json'))) {
  const { markdownPath } = await render(join(outDir, 'results.json'), env.SCALE_OUT ? join(outDir, 'benchmarks.md') : undefined);
  log(`Rendered ${markdownPath}`);
}
if (failures.length > 0) {
  process.stderr.write(`SCALE RUN FAILED:\n- ${failures.join('\n- ')}\n`);
  process.exitCode = 1;
} else {
  log('SCALE RUN PASSED');
}

/** A load-generator child process and its IPC replies. */
function startGenerator(index, count, offset) {
  const child = fork(GENERATOR, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  const generator = {
    index,
    count,
    offset,
    child,
    connected: 0,
    /** The next message of `type`; rejects after `timeoutMs` or if the process exits. */
    next(type, timeoutMs) {
      return new Promise((resolve, reject) => {
        const entry = { type, resolve, reject };
        entry.timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new Error(`load generator ${index}: no ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push(entry);
      });
    },
    /** Forgets whoever waits for `type` (it will not come): their promises stay pending. */
    drop(type) {
      for (let i = waiting.length - 1; i >= 0; i--) {
        if (waiting[i].type !== type) continue;
        clearTimeout(waiting[i].timer);
        waiting.splice(i, 1);
      }
    },
    ask(message, replyType, timeoutMs = 30_000) {
      const reply = generator.next(replyType, timeoutMs);
      child.send(message);
      return reply;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  child.on('message', (message) => {
    if (message.type === 'progress') generator.connected = message.connected;
    if (message.type === 'connected') generator.connected = message.connected;
    if (message.type === 'failed') for (const entry of waiting.splice(0)) (clearTimeout(entry.timer), entry.reject(new Error(`load generator ${index}: ${message.error}`)));
    const at = waiting.findIndex((entry) => entry.type === message.type);
    if (at < 0) return;
    const [entry] = waiting.splice(at, 1);
    clearTimeout(entry.timer);
    entry.resolve(message);
  });
  child.once('exit', (code, signal) => {
    for (const entry of waiting.splice(0)) (clearTimeout(entry.timer), entry.reject(new Error(`load generator ${index} exited (${code ?? signal})`)));
  });
  return generator;
}

/**
 * Pod CPU (from /proc, 10 ms ticks) and Redis CPU between start and stop(). Redis's own
 * count (INFO cpu, getrusage in microseconds) is used for Redis: one broadcast costs it far
 * less than a clock tick.
 */
async function cpuWindow(target) {
  const pids = target.pids();
  const generatorPids = generators.map((g) => g.child.pid);
  const startUs = totalCpuMicros(pids);
  const generatorStartUs = totalCpuMicros(generatorPids);
  const machineStart = machineCpu();
  const redisStartUs = await redisCpuMicros();
  const startedAt = performance.now();
  return {
    async stop() {
      const cpuUs = totalCpuMicros(pids) - startUs;
      const generatorCpuUs = totalCpuMicros(generatorPids) - generatorStartUs;
      const machine = machineCpu();
      const wallMs = performance.now() - startedAt;
      const busyPercent = (100 * (machine.busy - machineStart.busy)) / Math.max(1, machine.total - machineStart.total);
      const machineBusyCoreMs = (machine.busy - machineStart.busy) * (1000 / CLOCK_TICKS_PER_S);
      return { cpuUs, wallMs, generatorCpuUs, machineBusyPercent: busyPercent, machineBusyCoreMs, redisCpuUs: (await redisCpuMicros()) - redisStartUs };
    },
  };
}

/** Every core's busy and total time so far (/proc/stat): how saturated the machine was. */
function machineCpu() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

async function redisCpuMicros() {
  const info = await redisClient.info('cpu');
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return Math.round((field('used_cpu_sys') + field('used_cpu_user')) * 1e6);
}

async function redisMemory() {
  const info = await redisClient.info('memory');
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { used: field('used_memory'), rss: field('used_memory_rss') };
}

/**
 * One POST /v1/notifications on a connection of its own: broadcasts are seconds apart, longer
 * than a server keeps an idle keep-alive connection, and a reused one it has just closed
 * fails the request without the server ever seeing it.
 */
function publish(port, body) {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/notifications', method: 'POST', agent: false, headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode }));
      },
    );
    req.once('error', (error) => resolve({ status: 0, error: error.message }));
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
    req.end(body);
  });
}

/** herald_connections as the pod itself reports it on /metrics. */
function connectionGauge(port) {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.once('end', () => resolve(Number(/^herald_connections (\d+)/m.exec(text)?.[1] ?? NaN)));
    });
    req.once('error', () => resolve(null));
    req.setTimeout(10_000, () => req.destroy());
  });
}

/**
 * What the pods logged (LOG_LEVEL=warn), counted by message: why a connection was refused or
 * Redis declared down shows up here, not in the clients' close codes.
 */
function podLogSummary(dir) {
  const counts = new Map();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let key;
      try {
        const entry = JSON.parse(line);
        const message = entry.message;
        key = typeof message === 'object' && message !== null ? [message.message, String(message.error ?? '').replace(/connectionId[^,]*/g, '')].filter(Boolean).join(': ') : String(message);
      } catch {
        key = line; // not JSON: a stack trace or a Node warning, kept as it is
      }
      key = key.slice(0, 160);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
}

function hardFilesLimit() {
  return /Max open files\s+\S+\s+(\d+|unlimited)/.exec(readFileSyncSafe('/proc/self/limits'))?.[1] ?? 'unknown';
}

function readFileSyncSafe(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // not Linux: the limit is reported as unknown
  }
}

function sum(values) {
  return values.reduce((total, value) => total + value, 0);
}

function commandLine() {
  const set = Object.keys(env).filter((name) => name.startsWith('SCALE_') && name !== 'SCALE_OUT').sort();
  return `${set.map((name) => `${name}=${env[name]} `).join('')}npm run bench:scale`;
}
