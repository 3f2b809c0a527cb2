import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports (a port just closed may be handed out again) that each pass `fits`. */
export async function freePorts(count, fits = () => true) {
  const ports = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port) && fits(port)) ports.push(port);
  }
  return ports;
}

/** Polls `check` until it returns truthy, or throws after `timeoutMs`. */
export async function waitFor(what, check, timeoutMs, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** User + system CPU of a process so far, in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid) {
  const { userUs, systemUs } = statCpuMicros(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return userUs + systemUs;
}

/** The user and system CPU a /proc `stat` file (a process's or a thread's) reports, in microseconds. */
function statCpuMicros(stat) {
  // Fields after the command name (which may contain spaces) start at index 2 = state.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userUs: (Number(fields[11]) * 1e6) / CLOCK_TICKS_PER_S, systemUs: (Number(fields[12]) * 1e6) / CLOCK_TICKS_PER_S };
}

/** Resident set size of a process, in bytes, from /proc/<pid>/status. */
export function rssBytes(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

export function totalCpuMicros(pids) {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
}

/**
 * CPU so far of processes' threads, in microseconds, summed over the processes: each main
 * thread's user and system time apart, and every other thread's (V8's GC and compiler workers,
 * libuv's pool) together. Threads that ended are not counted: take it over a window in which
 * the processes keep their threads (Node's are made at start).
 */
export function threadCpuMicros(pids) {
  const split = { mainUserUs: 0, mainSystemUs: 0, otherThreadsUs: 0 };
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let stat;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // the thread ended between the listing and the read
      }
      const { userUs, systemUs } = statCpuMicros(stat);
      if (Number(tid) === pid) {
        split.mainUserUs += userUs;
        split.mainSystemUs += systemUs;
      } else {
        split.otherThreadsUs += userUs + systemUs;
      }
    }
  }
  return split;
}

/** Soft limit on open files for this process. */
export function openFilesLimit() {
  const match = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !match || match[1] === 'unlimited' ? Infinity : Number(match[1]);
}
