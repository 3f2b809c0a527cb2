import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Every knob of a benchmark run, from the environment, in one place.
 *   BENCH_SCALE=0.2         connection counts x0.2 and shorter phases (a quick run)
 *   BENCH_SCENARIOS=fanout  a comma-separated subset of the scenarios
 *   BENCH_TARGETS=herald,ws a comma-separated subset of the targets
 *   BENCH_ROUNDS=3          rounds of the notifications and cross-pod scenarios, targets taking
 *                           turns; each row is the target's median round (default 3, 1 when
 *                           BENCH_SCALE is below 1)
 *   BENCH_PROFILE=1         Herald nodes run with --cpu-prof (profiles land next to the logs)
 *   BENCH_PROFILE=window    every target's nodes are profiled over each measured window only
 *                           (the CPU rows' windows; servers/probe.mjs), for side-by-side profiles
 *   BENCH_PROFILE=alloc     the same with V8's sampling allocation profiler (.heapprofile files)
 *   BENCH_NODE_ARGS='...'   extra node flags for every target's nodes, e.g. '--trace-gc' or
 *                           '--trace-opt --trace-deopt' (their output lands in the nodes' logs)
 *   BENCH_THREADS=1         the idle steps also split the nodes' CPU per connect by thread: main
 *                           thread user and system time, and V8's and libuv's other threads
 *   BENCH_HERALD_ENV='A=1 B=2'  extra settings for Herald's nodes only (knock-out and tuning runs)
 *   BENCH_PERF=dir          every target's nodes are recorded with Linux perf over each CPU window
 *                           (dir/perf-<n>.data; see measure.mjs for naming their JavaScript frames)
 *   BENCH_OUT=dir           where results.json and the charts go (default docs/benchmarks)
 *   BENCH_REDIS_NODES=1     how many nodes the Redis targets run (default 2): one pod on Redis
 *                           tells what Redis mode costs apart from what a second pod does
 *                           (for diagnosis: the rendered labels still say x2)
 */
export function benchConfig(env = process.env) {
  const scale = Number(env.BENCH_SCALE ?? 1);
  if (!(scale > 0 && scale <= 4)) throw new Error(`BENCH_SCALE must be in (0, 4], got ${env.BENCH_SCALE}`);
  const count = (n) => Math.max(10, Math.round(n * scale));
  const durationMs = (ms) => Math.max(2000, Math.round(ms * Math.min(1, scale)));
  return {
    scale,
    scenarios: list(env.BENCH_SCENARIOS),
    targets: list(env.BENCH_TARGETS),
    rounds: env.BENCH_ROUNDS === undefined ? (scale < 1 ? 1 : 3) : positiveInteger('BENCH_ROUNDS', env.BENCH_ROUNDS),
    profile: env.BENCH_PROFILE === '1',
    windowProfile: env.BENCH_PROFILE === 'window' || env.BENCH_PROFILE === 'alloc' ? env.BENCH_PROFILE : undefined,
    out: env.BENCH_OUT,
    redisNodes: env.BENCH_REDIS_NODES === undefined ? undefined : positiveInteger('BENCH_REDIS_NODES', env.BENCH_REDIS_NODES),
    splitThreads: env.BENCH_THREADS === '1',
    nodeArgs: (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    heraldEnv: settingPairs('BENCH_HERALD_ENV', env.BENCH_HERALD_ENV),
    perfDir: perfDir(env.BENCH_PERF),
    idle: { steps: [5000, 10000, 20000].map(count), warmup: count(2000) },
    fanout: { members: count(5000), fixedRatePerS: 10, durationMs: durationMs(8000), window: 4 },
    notifications: { users: count(10000), ratePerS: 1000, durationMs: durationMs(8000) },
    crossPod: { members: count(5000), ratePerS: 4, durationMs: durationMs(20_000) },
    storm: { clients: count(5000), ratePerS: 10, drainSpreadMs: 1000, jitterMs: 500 },
    batch: { users: count(5000), ratePerS: 1000, durationMs: durationMs(6000), batchSizes: [100, 1000] },
  };
}

function positiveInteger(name, value) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 16) throw new Error(`${name} must be an integer from 1 to 16, got ${value}`);
  return number;
}

/** `NAME=value` pairs separated by spaces, as an object: BENCH_HERALD_ENV. */
export function settingPairs(name, value = '') {
  return Object.fromEntries(
    value
      .split(' ')
      .filter(Boolean)
      .map((pair) => {
        const equals = pair.indexOf('=');
        if (equals < 1) throw new Error(`${name} takes NAME=value pairs separated by spaces, got ${pair}`);
        return [pair.slice(0, equals), pair.slice(equals + 1)];
      }),
  );
}

/** BENCH_PERF's directory, checked before anything starts: it must exist, and `perf` must run. */
function perfDir(dir) {
  if (!dir) return undefined;
  if (!existsSync(dir)) throw new Error(`BENCH_PERF names ${dir}, which does not exist`);
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('BENCH_PERF needs Linux perf (Debian: apt-get install linux-perf)');
  }
  return dir;
}

function list(value) {
  return value ? value.split(',').map((item) => item.trim()).filter(Boolean) : undefined;
}
