#!/usr/bin/env node
/**
 * Soak: one Herald pod on a private Redis under SOAK_MINUTES (default 30) of churn: clients
 * connecting, joining, chatting, recovering with `since`, reading their inbox and dropping
 * (cleanly and abruptly), HTTP publishes (idempotent repeats and conflicting ones among them),
 * and hostile input mixed in (deep nesting, bad JSON, unknown events, binary frames, oversized
 * frames, ping floods, forged tokens). Every minute the pod reports V8 heap and RSS after a
 * full GC; at the end the least-squares slope of both, after a warm-up, must stay under a bound.
 *
 *   npm run soak                              # 30 minutes
 *   SOAK_MINUTES=5 npm run soak               # a quick look
 *
 * Also fails on: the pod exiting, any 5xx, any `internal` error frame, any `recovery` frame
 * (Redis never fails here), connections or Redis keys left behind once every client has gone.
 * Writes docs/soak/results.json (SOAK_OUT to change it).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createClient } from 'redis';
import { startRedis } from './lib/redis.mjs';
import { memoryOf } from './lib/targets.mjs';
import { freePort, sleep, waitFor } from './lib/processes.mjs';
import { BENCH_JWT_SECRET, publisherToken, signToken } from './lib/tokens.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const WARMUP_MINUTES = Math.min(5, Math.floor(MINUTES / 5));
/** Growth that fails the soak, in KB of heap (after GC) per minute of churn. */
const MAX_HEAP_SLOPE_KB_PER_MIN = Number(process.env.SOAK_MAX_HEAP_SLOPE_KB_PER_MIN ?? 200);
const MAX_RSS_SLOPE_KB_PER_MIN = Number(process.env.SOAK_MAX_RSS_SLOPE_KB_PER_MIN ?? 1024);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 300);
const ROOMS = 40;
const OUT = process.env.SOAK_OUT ?? join(ROOT, 'docs', 'soak', 'results.json');
const PREFIX = `soak${process.pid}:`;

const counters = { conflictsMissed: 0, connects: 0, drops: 0, terminates: 0, joins: 0, chats: 0, publishes: 0, accepted: 0, conflicts: 0, hostileFrames: 0, forgedTokens: 0, inboxReads: 0, serverErrors: 0, internalErrors: 0, recoveries: 0, unexpected: [] };

function note(problem) {
  if (counters.unexpected.length < 20) counters.unexpected.push(problem);
}

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const roomName = () => `soak:${Math.floor(Math.random() * ROOMS)}`;

async function main() {
  const redis = await startRedis();
  const port = await freePort();
  const pod = spawn(process.execPath, ['--expose-gc', '--import', join(ROOT, 'bench/servers/probe.mjs'), join(ROOT, 'dist/main.js')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: BENCH_JWT_SECRET, REDIS_URL: redis.url, REDIS_PREFIX: PREFIX, LOG_LEVEL: 'warn', RATE_LIMIT_PER_S: '50', HISTORY_TTL_S: '120', DRAIN_DELAY_MS: '0', DRAIN_SPREAD_MS: '0' },
  });
  let podExit;
  pod.once('exit', (code, signal) => (podExit = { code, signal }));
  const base = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    await waitFor('the pod to be ready', async () => (await call(agent, base, 'GET', '/readyz', undefined, undefined, { quiet: true })).status === 200, 60_000, 200);
    const samples = [];
    const clients = new Set();
    const started = Date.now();
    const endAt = started + MINUTES * 60_000;
    let stopping = false;

    const churn = (async () => {
      while (!stopping) {
        while (clients.size < CLIENTS) clients.add(openClient(port, clients));
        // About 5% of the clients go each second, half of them without a close frame.
        for (const client of [...clients]) {
          if (Math.random() < 0.05) {
            clients.delete(client);
            if (Math.random() < 0.5) (counters.terminates++, client.terminate());
            else (counters.drops++, client.close(1000));
          }
        }
        await sleep(1000);
      }
    })();
    const traffic = (async () => {
      let n = 0;
      while (!stopping) {
        await Promise.all([publishOnce(agent, base, n++), hostileOnce(port, clients), inboxOnce(agent, base), chatOnce(clients)]);
        await sleep(50);
      }
    })();

    for (let minute = 1; Date.now() < endAt; minute++) {
      await sleep(Math.max(0, started + minute * 60_000 - Date.now()));
      if (podExit) throw new Error(`the pod exited: ${JSON.stringify(podExit)}`);
      const memory = await memoryOf({ child: pod });
      samples.push({ minute, heapUsed: memory.heapUsed, rss: memory.rss, external: memory.external, arrayBuffers: memory.arrayBuffers, clients: clients.size });
      process.stdout.write(`minute ${minute}: heap ${(memory.heapUsed / 1048576).toFixed(1)} MB, rss ${(memory.rss / 1048576).toFixed(1)} MB, ${JSON.stringify(counters)}\n`);
    }
    stopping = true;
    await Promise.all([churn, traffic]);
    for (const client of clients) client.close(1000);
    clients.clear();
    const afterAll = await leftovers(agent, base, redis.url);
    const steady = samples.filter((sample) => sample.minute > WARMUP_MINUTES);
    const heapSlope = slopeKbPerMinute(steady, 'heapUsed');
    const rssSlope = slopeKbPerMinute(steady, 'rss');
    const failures = [];
    if (heapSlope > MAX_HEAP_SLOPE_KB_PER_MIN) failures.push(`heap grows ${heapSlope.toFixed(1)} KB/min (limit ${MAX_HEAP_SLOPE_KB_PER_MIN})`);
    if (rssSlope > MAX_RSS_SLOPE_KB_PER_MIN) failures.push(`RSS grows ${rssSlope.toFixed(1)} KB/min (limit ${MAX_RSS_SLOPE_KB_PER_MIN})`);
    if (counters.serverErrors > 0) failures.push(`${counters.serverErrors} HTTP 5xx answers`);
    if (counters.internalErrors > 0) failures.push(`${counters.internalErrors} internal error frames`);
    if (counters.recoveries > 0) failures.push(`${counters.recoveries} recovery frames with Redis healthy throughout`);
    if (counters.conflictsMissed > 0) failures.push(`${counters.conflictsMissed} conflicting repeats not answered 409`);
    if (afterAll.connections !== 0) failures.push(`${afterAll.connections} connections still open after every client left`);
    if (afterAll.roomKeys.length > 0) failures.push(`Redis keys of message-less rooms left behind: ${afterAll.roomKeys.slice(0, 5).join(', ')}`);
    const result = {
      date: new Date().toISOString(),
      minutes: MINUTES,
      warmupMinutes: WARMUP_MINUTES,
      clients: CLIENTS,
      heapSlopeKbPerMin: round(heapSlope),
      rssSlopeKbPerMin: round(rssSlope),
      limits: { heapKbPerMin: MAX_HEAP_SLOPE_KB_PER_MIN, rssKbPerMin: MAX_RSS_SLOPE_KB_PER_MIN },
      counters,
      afterAll: { connections: afterAll.connections, redisKeys: afterAll.totalKeys },
      samples,
      passed: failures.length === 0,
      failures,
    };
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nheap slope ${result.heapSlopeKbPerMin} KB/min, RSS slope ${result.rssSlopeKbPerMin} KB/min over minutes ${WARMUP_MINUTES + 1}-${MINUTES}; results in ${OUT}\n`);
    if (failures.length > 0) {
      process.stderr.write(`SOAK FAILED:\n- ${failures.join('\n- ')}\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write('SOAK PASSED\n');
    }
  } finally {
    agent.destroy();
    if (pod.exitCode === null && pod.signalCode === null) {
      pod.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => pod.once('exit', resolve)), sleep(20_000)]);
      if (pod.exitCode === null && pod.signalCode === null) pod.kill('SIGKILL');
    }
    await redis.stop();
  }
}

/** A member that joins two rooms (with `since` when it has one), reads replies and counts `internal`. */
function openClient(port, clients) {
  counters.connects++;
  const user = `u${Math.floor(Math.random() * 2000)}`;
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['herald.v1', `bearer.${signToken({ sub: user, rooms: ['soak:*'] })}`]);
  socket.user = user;
  socket.on('error', () => undefined); // churn and refusals close sockets on purpose
  socket.on('message', (raw) => {
    const frame = JSON.parse(raw.toString());
    if (frame.event === 'welcome') {
      for (let i = 0; i < 2; i++) {
        counters.joins++;
        socket.send(JSON.stringify({ event: 'join', id: `j${i}`, data: { room: roomName() } }));
      }
    }
    // Redis never fails here, so no room's history can be lost: a `recovery` would be for nothing
    // (one was, for personal rooms followed near the end of their history life: e3e2bbd).
    if (frame.event === 'recovery') {
      counters.recoveries++;
      note(`recovery for ${frame.data?.room}`);
    }
    if (frame.event === 'error' && frame.data?.code === 'internal') {
      counters.internalErrors++;
      note(`internal: ${frame.data.message}`);
    }
  });
  socket.on('close', () => clients.delete(socket));
  return socket;
}

async function chatOnce(clients) {
  const client = pick([...clients]);
  if (client?.readyState !== WebSocket.OPEN) return;
  counters.chats++;
  client.send(JSON.stringify({ event: 'message', data: { room: roomName(), text: 'soak' } }));
}

/** The body of publish number `n` (the same for the same `n`). */
const bodyOf = (n) => ({ rooms: [`soak:${n % ROOMS}`], users: [`u${n % 2000}`], type: 'soak', payload: { n }, id: `soak-${n}` });

async function publishOnce(agent, base, n) {
  counters.publishes++;
  // Every tenth publish repeats the one before it: the same body (202, delivered once), or,
  // every fiftieth, another body under the same id (409, delivered nowhere).
  const repeat = n > 0 && n % 10 === 0;
  const body = repeat ? { ...bodyOf(n - 1), ...(n % 50 === 0 ? { type: 'other' } : {}) } : bodyOf(n);
  const response = await call(agent, base, 'POST', '/v1/notifications', body, publisherToken());
  if (response.status === 202) counters.accepted++;
  else if (response.status === 409) counters.conflicts++;
  else if (response.status >= 500) (counters.serverErrors++, note(`publish ${response.status}`));
  if (repeat && n % 50 === 0 && response.status !== 409) (counters.conflictsMissed++, note(`a conflicting repeat answered ${response.status}`));
}

async function inboxOnce(agent, base) {
  counters.inboxReads++;
  const token = signToken({ sub: `u${Math.floor(Math.random() * 2000)}` });
  const list = await call(agent, base, 'GET', '/v1/inbox?limit=5', undefined, token);
  const read = await call(agent, base, 'POST', '/v1/inbox/read', Math.random() < 0.5 ? { all: true } : { ids: ['nope'] }, token);
  for (const response of [list, read]) if (response.status >= 500) (counters.serverErrors++, note(`inbox ${response.status}`));
}

const DEEP = `{"event":"join","id":"deep","data":{"room":"soak:1","since":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
const HOSTILE_FRAMES = [DEEP, '{', '[]', 'null', '{"event":"nope","id":1}', '{"event":"join","data":{"room":"bad room"}}', '{"event":"join","data":{"room":null}}', '{"event":"message","data":{"room":"soak:1","text":"x","extra":{"a":{"b":1}}}}', '{"event":"refresh","data":{"token":"x.y.z"}}'];

/** One hostile act: a bad frame from a member, an oversized frame, a ping flood, or a forged token. */
async function hostileOnce(port, clients) {
  const roll = Math.random();
  if (roll < 0.02) {
    counters.forgedTokens++;
    const forged = `${signToken({ sub: 'mallory' }).slice(0, -4)}AAAA`;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['herald.v1', `bearer.${forged}`]);
    socket.on('error', () => undefined);
    return;
  }
  const client = pick([...clients]);
  if (client?.readyState !== WebSocket.OPEN) return;
  counters.hostileFrames++;
  if (roll < 0.03) client.send(Buffer.alloc(70_000, 0x41)); // over MAX_MESSAGE_BYTES: closed with 1009
  else if (roll < 0.04) for (let i = 0; i < 500; i++) client.ping(); // closed with 4029
  else if (roll < 0.1) client.send(Buffer.from('{"event":"ping"}'), { binary: true });
  else client.send(pick(HOSTILE_FRAMES));
}

/** What is left once every client has gone: open connections and per-room Redis keys. */
async function leftovers(agent, base, redisUrl) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => undefined);
  await redis.connect();
  try {
    let connections = NaN;
    let keys = [];
    await waitFor('every connection to be gone', async () => {
      const metrics = (await call(agent, base, 'GET', '/metrics')).text;
      connections = Number(/^herald_connections (\d+)/m.exec(metrics)?.[1] ?? NaN);
      return connections === 0;
    }, 60_000, 500).catch(() => undefined);
    // Rooms that carried messages keep their history for HISTORY_TTL_S; what matters is that
    // nothing per member or per message-less room stays: presence and membership keys. A room's
    // departures (`presence:departed`, what a pod that could not hear the room asks for later)
    // are kept on purpose for a while (presence.scripts.ts, DEPARTURE_TTLS): they must be on their
    // way out, with a TTL, not gone.
    let lingering = [];
    await waitFor('presence keys to go', async () => {
      keys = [];
      for await (const batch of redis.scanIterator({ MATCH: `${PREFIX}*`, COUNT: 1000 })) keys.push(...batch);
      lingering = [];
      for (const key of keys.filter((candidate) => /presence|members/.test(candidate))) {
        if (!key.endsWith(':presence:departed') || (await redis.pTTL(key)) <= 0) lingering.push(key);
      }
      return lingering.length === 0;
    }, 60_000, 1000).catch(() => undefined);
    return { connections, totalKeys: keys.length, roomKeys: lingering };
  } finally {
    await redis.quit();
  }
}

function call(agent, base, method, path, body, token, { quiet = false } = {}) {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) };
    const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => {
      if (!quiet) note(`${method} ${path}: ${error.message}`);
      resolve({ status: 0, text: '' });
    });
    req.end(payload);
  });
}

/** Least-squares slope of `field` per minute, in KB. */
function slopeKbPerMinute(samples, field) {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const meanX = samples.reduce((sum, s) => sum + s.minute, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + s[field], 0) / n;
  const covariance = samples.reduce((sum, s) => sum + (s.minute - meanX) * (s[field] - meanY), 0);
  const variance = samples.reduce((sum, s) => sum + (s.minute - meanX) ** 2, 0);
  return covariance / variance / 1024;
}

const round = (value) => Math.round(value * 10) / 10;

main().catch((error) => {
  process.stderr.write(`soak failed: ${error.stack ?? error}\n`);
  process.exit(1);
});
