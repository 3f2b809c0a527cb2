#!/usr/bin/env node
/**
 * Stalls: how long one pod keeps its clients waiting while nothing but its own upkeep runs. Two
 * Herald pods (on one Redis, or on a private Redis Cluster) hold STALLS_USERS connections (each
 * in its personal room, and in STALLS_ROOMS if given); one more client sends a frame the pod
 * answers at once (an unknown event: `bad_request`) to the first pod every 5 ms for STALLS_MS,
 * and the slowest answer of each second is printed. Timers that do a pod's work in one turn
 * (refreshes, extensions, sweeps) show as a step every period; a steady pod stays near its
 * garbage collections.
 *
 *   npm run build && node bench/stalls.mjs
 *   STALLS_TARGET=herald-cluster STALLS_USERS=10000 BENCH_HERALD_ENV='HISTORY_TTL_S=30' node bench/stalls.mjs
 *
 * The load generator and both pods share the machine: compare runs of two builds, not absolutes.
 * This process holds every connection, so STALLS_USERS stays under its open-file limit.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { settingPairs } from './bench.config.mjs';
import { Fleet } from './lib/fleet.mjs';
import { sleep } from './lib/processes.mjs';
import { startRedis, startRedisCluster } from './lib/redis.mjs';
import { killRunning, startTarget } from './lib/targets.mjs';
import { userToken } from './lib/tokens.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET = process.env.STALLS_TARGET ?? 'herald-redis';
const USERS = Number(process.env.STALLS_USERS ?? 10_000);
const DURATION_MS = Number(process.env.STALLS_MS ?? 30_000);
const ROOMS = (process.env.STALLS_ROOMS ?? '').split(',').filter(Boolean);
const PROBE_EVERY_MS = 5;
/** Answers slower than this are listed one by one, with when they came. */
const SLOW_MS = 25;

if (!['herald-redis', 'herald-cluster'].includes(TARGET)) throw new Error('STALLS_TARGET is herald-redis or herald-cluster');
// Herald runs from a copy of dist/, as in the benchmark, so a rebuild meanwhile changes nothing.
const workDir = mkdtempSync(join(tmpdir(), 'herald-stalls-'));
cpSync(join(ROOT, 'dist'), join(workDir, 'dist'), { recursive: true });
cpSync(join(ROOT, 'package.json'), join(workDir, 'package.json'));
process.once('exit', killRunning);

const redis = await startRedis();
const redisCluster = TARGET === 'herald-cluster' ? await startRedisCluster() : undefined;
// The probe sends 200 frames a second: past the default per-connection rate limit.
const heraldEnv = { RATE_LIMIT_PER_S: '1000', ...settingPairs('BENCH_HERALD_ENV', process.env.BENCH_HERALD_ENV) };
try {
  const target = await startTarget(TARGET, { redisUrl: redis.url, redisPid: redis.pid, redisCluster, logDir: workDir, heraldEntry: join(workDir, 'dist', 'main.js'), redisNodes: 2, heraldEnv });
  const fleet = new Fleet(target.target, target.nodes[0]);
  try {
    await fleet.connect({ count: USERS, rooms: ROOMS, nodes: target.nodes });
    process.stdout.write(`${TARGET}: ${fleet.clients.length} users on two pods${ROOMS.length ? ` in ${ROOMS.join(', ')}` : ''}; probing pod 0 every ${PROBE_EVERY_MS} ms for ${DURATION_MS} ms\n`);
    const answers = await probe(target.nodes[0].port);
    report(answers);
  } finally {
    fleet.closeAll();
    await target.stop();
  }
} finally {
  await redis.stop();
  await redisCluster?.stop();
}

/** [when, round trip] in ms of each probe frame, `when` from the first answer. */
async function probe(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['herald.v1', `bearer.${userToken('stalls-probe')}`]);
  // One pair of listeners for the whole probe: the frame answered, or the connection gone.
  let waiting;
  let closed;
  /** [sent at, round trip] of each answered probe frame; undefined until `welcome`. */
  let answers;
  // `welcome` first, then only the probe's answers: a heartbeat's `ping` frame is not one.
  ws.on('message', (data) => {
    if (answers === undefined || data.includes('"bad_request"')) waiting?.resolve();
  });
  ws.on('close', (code) => {
    closed = new Error(`the probe's connection closed (${code})`);
    waiting?.reject(closed);
  });
  const next = () => new Promise((resolve, reject) => {
    if (closed) reject(closed);
    else waiting = { resolve, reject };
  });
  await next(); // welcome
  answers = [];
  const endMs = performance.now() + DURATION_MS;
  for (let id = 0; performance.now() < endMs; id++) {
    const sentMs = performance.now();
    ws.send(JSON.stringify({ event: 'stalls-probe', id }));
    await next();
    answers.push([sentMs, performance.now() - sentMs]);
    await sleep(PROBE_EVERY_MS);
  }
  ws.close();
  const startMs = answers[0][0];
  return answers.map(([sentMs, rttMs]) => [sentMs - startMs, rttMs]);
}

function report(answers) {
  const slowestPerSecond = [];
  for (const [whenMs, rttMs] of answers) {
    const second = Math.floor(whenMs / 1000);
    slowestPerSecond[second] = Math.max(slowestPerSecond[second] ?? 0, rttMs);
  }
  const slow = answers.filter(([, rttMs]) => rttMs > SLOW_MS);
  process.stdout.write(`slowest answer of each second (s:ms): ${slowestPerSecond.map((ms, second) => `${second}:${Math.round(ms)}`).join(' ')}\n`);
  process.stdout.write(`answers over ${SLOW_MS} ms: ${slow.length ? slow.map(([whenMs, rttMs]) => `${(whenMs / 1000).toFixed(2)}s:${Math.round(rttMs)}`).join(' ') : 'none'}\n`);
}
