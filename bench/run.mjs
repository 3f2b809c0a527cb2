import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchConfig } from './bench.config.mjs';
import { openFilesLimit } from './lib/processes.mjs';
import { startRedis, startRedisCluster } from './lib/redis.mjs';
import { TARGETS, killRunning } from './lib/targets.mjs';
import { batchPublish } from './scenarios/batch.scenario.mjs';
import { crossPod } from './scenarios/cross-pod.scenario.mjs';
import { fanout } from './scenarios/fanout.scenario.mjs';
import { idle } from './scenarios/idle.scenario.mjs';
import { notifications } from './scenarios/notifications.scenario.mjs';
import { reconnectStorm } from './scenarios/reconnect-storm.scenario.mjs';
import { render } from './render.mjs';

/**
 * Scenario -> the targets it compares, in table order: the production shape first (two pods
 * sharing one Redis, as teams run Herald and its alternatives), then a single pod.
 */
const PRODUCTION = ['herald-redis', 'ws-redis', 'socketio-redis'];
const SINGLE = ['herald', 'ws', 'socketio'];
/** The production shape, then Herald on a Redis Cluster (the peers have no Cluster row). */
const PRODUCTION_AND_CLUSTER = [...PRODUCTION, 'herald-cluster'];
/**
 * `medianOf`: the scenario runs `config.rounds` rounds, its targets taking turns in each, and a
 * target's row is its median round by this measure (every round's value is kept beside it). These
 * two rows are each a few seconds of one measure on a machine whose load drifts over minutes:
 * single runs of the same build moved the publish row between 0.74x and 1.12x Socket.IO, and a
 * cross-pod p99 over a few dozen broadcasts is set by the one or two a scheduler hiccup slowed.
 */
const PLAN = [
  { name: 'idle', run: idle, targets: [...PRODUCTION_AND_CLUSTER, ...SINGLE] },
  { name: 'fanout', run: fanout, targets: [...PRODUCTION_AND_CLUSTER, ...SINGLE] },
  { name: 'notifications', run: notifications, targets: [...PRODUCTION_AND_CLUSTER, ...SINGLE], medianOf: (result) => result.cpuUsPerDelivered },
  { name: 'crossPod', run: crossPod, targets: PRODUCTION_AND_CLUSTER, medianOf: (result) => result.latencyMs.p99 },
  { name: 'storm', run: reconnectStorm, targets: PRODUCTION_AND_CLUSTER },
  { name: 'batch', run: batchPublish, targets: ['herald-redis', 'herald-cluster', 'herald'] },
];
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const config = benchConfig();
const outDir = config.out ?? join(ROOT, 'docs', 'benchmarks');
const workDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
const log = (message) => process.stdout.write(`${message}\n`);

// Each connection is one open file in the server and one in this process; a process whose
// limit cannot be raised (npm run bench tries) caps the idle steps just under it, and says so.
const fdLimit = openFilesLimit();
const connectionCap = fdLimit - 500;
if (config.idle.steps.some((step) => step > connectionCap)) {
  config.idle.cappedAt = connectionCap;
  config.idle.steps = [...new Set(config.idle.steps.map((step) => Math.min(step, connectionCap)))];
  log(`Open-file limit ${fdLimit}: idle steps capped at ${connectionCap} connections`);
}
if (config.notifications.users > connectionCap) throw new Error(`Open-file limit ${fdLimit} is too low for ${config.notifications.users} users: lower BENCH_SCALE`);

/**
 * The round whose measure is the median (the higher middle for an even count), with every round's
 * measure in `rounds`; a round that failed fails the row, so no failure hides behind a median.
 */
function medianRound(runs, measureOf) {
  const failed = runs.find((run) => run.error !== undefined);
  if (failed) return failed;
  const sorted = [...runs].sort((a, b) => measureOf(a) - measureOf(b));
  return { ...sorted[Math.floor(sorted.length / 2)], rounds: runs.map(measureOf) };
}

const results = {
  startedAt: new Date().toISOString(),
  command: `${config.scale === 1 ? '' : `BENCH_SCALE=${config.scale} `}${config.scenarios ? `BENCH_SCENARIOS=${config.scenarios.join(',')} ` : ''}${config.targets ? `BENCH_TARGETS=${config.targets.join(',')} ` : ''}${process.env.BENCH_ROUNDS ? `BENCH_ROUNDS=${config.rounds} ` : ''}npm run bench`,
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
  },
  config: { scale: config.scale, rounds: config.rounds, idle: config.idle, fanout: config.fanout, notifications: config.notifications, crossPod: config.crossPod, storm: config.storm, batch: config.batch },
  targets: Object.fromEntries(Object.entries(TARGETS).map(([name, target]) => [name, target.label])),
  scenarios: {},
};

// Herald runs from a copy of dist/ taken now, so a rebuild during the run cannot change it midway.
if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
cpSync(join(ROOT, 'dist'), join(workDir, 'dist'), { recursive: true });
// Herald reads its version from the package.json beside dist/ (the OpenAPI document).
cpSync(join(ROOT, 'package.json'), join(workDir, 'package.json'));
const heraldEntry = join(workDir, 'dist', 'main.js');

process.once('exit', killRunning);
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
const redis = await startRedis();
log(`Private Redis on ${redis.url}; logs in ${workDir}`);
const planned = (target) => PLAN.some((scenario) => (!config.scenarios || config.scenarios.includes(scenario.name)) && scenario.targets.includes(target)) && (!config.targets || config.targets.includes(target));
const redisCluster = planned('herald-cluster') ? await startRedisCluster() : undefined;
if (redisCluster) log(`Private Redis Cluster seeded at ${redisCluster.seeds}`);
const ctx = { config, log, targetOptions: { redisUrl: redis.url, redisPid: redis.pid, redisCluster, logDir: workDir, heraldEntry, profileDir: config.profile ? workDir : undefined, windowProfileDir: config.windowProfile ? workDir : undefined, windowProfileKind: config.windowProfile === 'alloc' ? 'alloc' : 'cpu', redisNodes: config.redisNodes, splitThreads: config.splitThreads, nodeArgs: config.nodeArgs, heraldEnv: config.heraldEnv, perfDir: config.perfDir } };
try {
  for (const scenario of PLAN) {
    if (config.scenarios && !config.scenarios.includes(scenario.name)) continue;
    log(`${scenario.name}`);
    const targets = scenario.targets.filter((target) => !config.targets || config.targets.includes(target));
    const rounds = scenario.medianOf ? config.rounds : 1;
    const runs = new Map(targets.map((target) => [target, []]));
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) log(` round ${round} of ${rounds}`);
      for (const target of targets) {
        try {
          runs.get(target).push(await scenario.run(ctx, target));
        } catch (error) {
          log(`  ${target} ${scenario.name} failed: ${error.message}`);
          runs.get(target).push({ error: error.message });
        }
      }
    }
    results.scenarios[scenario.name] = Object.fromEntries(targets.map((target) => [target, rounds > 1 ? medianRound(runs.get(target), scenario.medianOf) : runs.get(target)[0]]));
  }
} finally {
  await redis.stop();
  await redisCluster?.stop();
}
results.finishedAt = new Date().toISOString();
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
log(`Results in ${join(outDir, 'results.json')}`);
if (config.profile || config.windowProfile) log(`Profiles: ${readdirSync(workDir).filter((file) => /\.(cpu|heap)profile$/.test(file)).map((file) => join(workDir, file)).join(', ')}`);
const { markdownPath } = await render(join(outDir, 'results.json'), config.out ? join(outDir, 'benchmarks.md') : undefined);
log(`Rendered ${markdownPath}`);
