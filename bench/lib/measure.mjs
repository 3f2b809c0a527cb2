import { spawn } from 'node:child_process';
import { threadCpuMicros, totalCpuMicros } from './processes.mjs';

/**
 * Server CPU (user + system, all of a target's live nodes) spent between start() and stop(),
 * and, for targets on Redis, the Redis server's own CPU over the same window (reported apart:
 * it is shared work the nodes would otherwise do, not theirs). With BENCH_THREADS=1, `threads`
 * splits the nodes' CPU into their main threads' user and system time and their other threads'
 * (threadCpuMicros).
 */
export class CpuWindow {
  /**
   * `redisPid`: the Redis server's PID, or every node's for a Redis Cluster; `profiler`: see
   * targets.mjs (BENCH_PROFILE=window); `splitThreads` (BENCH_THREADS) and `perfDir` (BENCH_PERF).
   */
  constructor(pids, redisPid, profiler, { splitThreads = false, perfDir } = {}) {
    this.pids = pids;
    this.profiler = profiler;
    if (perfDir) this.perf = recordWithPerf(pids, perfDir);
    profiler?.start();
    this.redisPids = redisPid === undefined ? [] : [redisPid].flat();
    this.startUs = totalCpuMicros(pids);
    this.redisStartUs = this.redisPids.length > 0 ? totalCpuMicros(this.redisPids) : 0;
    this.startedAt = performance.now();
    this.threadsStart = splitThreads ? threadCpuMicros(pids) : undefined;
  }

  stop() {
    this.perf?.kill('SIGINT');
    this.profiler?.stop();
    const redisCpuUs = this.redisPids.length > 0 ? totalCpuMicros(this.redisPids) - this.redisStartUs : undefined;
    const result = { cpuUs: totalCpuMicros(this.pids) - this.startUs, wallMs: performance.now() - this.startedAt, redisCpuUs };
    if (this.threadsStart) {
      const end = threadCpuMicros(this.pids);
      result.threads = Object.fromEntries(Object.entries(end).map(([key, us]) => [key, us - this.threadsStart[key]]));
    }
    return result;
  }
}

/** Starts a CpuWindow over a started target (see targets.mjs), Redis included when it has one. */
export const cpuOf = (target) => new CpuWindow(target.pids(), target.redisPid, target.windowProfiler, target.windowExtras);

export const round = (value, digits = 2) => (value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits);

/** Waits until `done()` or `timeoutMs`, polling every 20 ms; returns whether it got there. */
export async function until(done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

let perfWindows = 0;

/**
 * BENCH_PERF=dir: `perf record` of the nodes over one CPU window, into dir/perf-<n>.data, with
 * the monotonic clock V8's code records use (targets.mjs starts the nodes with --perf-prof).
 * Afterwards `perf inject --jit -i dir/perf-<n>.data -o dir/perf-<n>.jit.data` names the
 * JavaScript frames, even of code V8 moved or dropped since: unlike a V8 CPU profile, it costs
 * every target alike and counts native and kernel time too.
 */
function recordWithPerf(pids, dir) {
  // Not waited for: perf attaches within a few hundred ms, which the recording misses of the
  // window. Blocking this process until then would stall the load generator's own clients.
  return spawn('perf', ['record', '-k', 'mono', '-g', '-F', '999', '-p', pids.join(','), '-o', `${dir}/perf-${++perfWindows}.data`], { stdio: 'ignore' });
}
