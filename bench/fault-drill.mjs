#!/usr/bin/env node
/**
 * Fault drill: two Herald pods on a private Redis, clients spread over both in a few rooms,
 * publishes to both pods and clients that keep leaving and rejoining with `since`, while the
 * drill breaks things one after another: Redis paused (shorter and longer than
 * REDIS_COMMAND_TIMEOUT_MS), its connections killed, Redis restarted empty, FLUSHALL, a pod
 * frozen, a pod killed and started again. It checks what sections 4 and 7 of the contract promise
 * (bench/lib/room-continuity.mjs), frame by frame:
 *
 * - every live member gets each room's notifications once each, in order, without a gap, or a
 *   `recovery` for that room; a rejoin answered `recovered: true` replays exactly what it missed;
 * - once publishing stops, every member ends on the room's latest seq (or on an announced fresh start);
 * - connected clients stay connected (but those of the pod killed); no `error` frame other than
 *   `unavailable`; no HTTP answer but 202 and 503 (and no answer at all from the pod while it is down);
 * - presence counts exactly the connected clients again, on both pods, once a dead pod's entries
 *   have expired (2 x HEARTBEAT_MS).
 *
 *   npm run fault-drill                       # about two minutes; writes docs/fault-drill/results.json
 *   DRILL_REDIS=cluster npm run fault-drill   # the same on a Redis Cluster (3 primaries, 3 replicas):
 *                                             # a primary paused, a planned failover, a primary crashing
 *                                             # (its replica takes over), subscribers dropped on every node
 *   DRILL_REDIS=sentinel npm run fault-drill  # on a primary, two replicas and three sentinels: the same
 *                                             # kinds of failover, found through the sentinels
 *
 * DRILL_CLIENTS (40) and DRILL_OUT change the clients and where the results go; DRILL_LOG_LEVEL
 * (error) the pods' LOG_LEVEL, their logs going to the drill's own output; DRILL_FAULTS (a part
 * of a fault's name) and DRILL_REPEAT (1) run only the faults it names, each that many times.
 * Exits 1 on any violation.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { lifeEndViolations, RoomContinuity } from './lib/room-continuity.mjs';
import { startRedis, startRedisCluster, startRedisSentinels } from './lib/redis.mjs';
import { freePort, sleep, waitFor } from './lib/processes.mjs';
import { BENCH_JWT_SECRET, publisherToken, signToken } from './lib/tokens.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS = process.env.DRILL_REDIS || 'single';
if (!['single', 'cluster', 'sentinel'].includes(REDIS)) throw new Error(`DRILL_REDIS must be single (the default), cluster or sentinel, not ${REDIS}`);
const OUT = process.env.DRILL_OUT ?? join(ROOT, 'docs', 'fault-drill', REDIS === 'single' ? 'results.json' : `${REDIS}-results.json`);
const CLIENTS = Number(process.env.DRILL_CLIENTS ?? 40);
/** Only the faults whose name holds this text (all by default), each REPEAT times: to chase one fault's rare failure. */
const ONLY_FAULTS = process.env.DRILL_FAULTS ?? '';
const REPEAT = Number(process.env.DRILL_REPEAT ?? 1);
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`DRILL_REPEAT must be a whole number of at least 1, not ${process.env.DRILL_REPEAT}`);
const ROOMS = Array.from({ length: 5 }, (_, index) => `drill:${index}`);
/** Short, so a dead pod's presence expires within the drill (2 x HEARTBEAT_MS), and longer than the pod freeze. */
const HEARTBEAT_MS = 5_000;
const REDIS_COMMAND_TIMEOUT_MS = 2_000;
const PUBLISH_EVERY_MS = 10;
/** How long a publish answered 503 waits before its one retry (same id, the other pod). */
const RETRY_AFTER_MS = 200;
const CHURN_EVERY_MS = 300;
/** Traffic between two faults, so each one's aftermath is checked on its own. */
const SETTLE_MS = 4_000;

const stats = { publishes: 0, accepted: 0, unavailable: 0, retried: 0, failedWhileDownOrFrozen: 0, rejoinsRefused: 0, churns: 0 };
const violations = [];
/** The `n` of every publish answered 202. */
const acceptedPublishes = new Set();
/**
 * The `n` of every publish retried after a 503: its first attempt may have been stored all the
 * same and delivered in one history life, and its acknowledged retry in the next (a failover
 * between them), so which life acknowledged it is unknown. The life-end check leaves them out.
 */
const retriedPublishes = new Set();
const log = (text) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${text}\n`);

/** A pod: dist/main.js on Redis, started again on the same port after a kill. */
class Pod {
  /** Frozen (SIGSTOP), and for a second after. */
  frozen = false;
  /** Killed, or started and not ready yet: its clients may be closed and its publishes fail. */
  down = true;

  /** `redisEnv`: REDIS_URL, REDIS_CLUSTER_NODES, or REDIS_SENTINELS and REDIS_SENTINEL_MASTER. */
  constructor(name, port, redisEnv) {
    Object.assign(this, { name, port, redisEnv });
  }

  async start() {
    this.child = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { PATH: process.env.PATH, PORT: String(this.port), HOST: '127.0.0.1', JWT_SECRET: BENCH_JWT_SECRET, ...this.redisEnv, LOG_LEVEL: process.env.DRILL_LOG_LEVEL ?? 'error', HEARTBEAT_MS: String(HEARTBEAT_MS), REDIS_COMMAND_TIMEOUT_MS: String(REDIS_COMMAND_TIMEOUT_MS), DRAIN_DELAY_MS: '0', DRAIN_SPREAD_MS: '0' },
    });
    this.child.once('exit', (code, signal) => {
      if (!this.down) violations.push(`${this.name} exited by itself (${code ?? signal})`);
    });
    await waitFor(`${this.name} to be ready`, () => fetch(`http://127.0.0.1:${this.port}/readyz`).then((reply) => reply.status === 200, () => false), 60_000, 200);
    this.down = false;
  }

  kill() {
    this.down = true;
    this.child.kill('SIGKILL');
    return new Promise((resolve) => (this.child.exitCode === null && this.child.signalCode === null ? this.child.once('exit', resolve) : resolve()));
  }
}

/** A user connected to one pod, in every drill room, checking what it receives (RoomContinuity). */
class Client {
  busy = false;
  closed = false;

  constructor(index, pod) {
    this.user = `drill${index}`;
    this.pod = pod;
    this.continuity = new RoomContinuity(this.user);
  }

  /** Resolves true once every room is joined, false when the pod refused or closed the connection first. */
  connect() {
    return new Promise((resolve) => {
      const token = signToken({ sub: this.user, rooms: ['drill:*'] });
      const socket = new WebSocket(`ws://127.0.0.1:${this.pod.port}/ws`, ['herald.v1', `bearer.${token}`]);
      this.socket = socket;
      let waiting = ROOMS.length;
      // The join frame's id is its room's index, so a join answered `unavailable` can be sent again.
      const join = (id) => socket.send(JSON.stringify({ event: 'join', id, data: { room: ROOMS[id], since: this.continuity.sinceFor(ROOMS[id]) } }));
      socket.on('message', (data) => {
        const { event, data: body, id } = JSON.parse(data);
        if (event === 'welcome') ROOMS.forEach((_room, index) => join(index));
        else if (event === 'error' && body.code === 'unavailable' && body.event === 'join') {
          setTimeout(() => socket.readyState === WebSocket.OPEN && join(id), 500);
        } else if (event === 'joined') {
          this.continuity.joined(body);
          if (--waiting === 0) resolve(true);
        } else if (event === 'notification') this.continuity.notification(body);
        else if (event === 'recovery') this.continuity.recovery(body);
        else if (event === 'error' && body.code !== 'unavailable') violations.push(`${this.user} got error ${JSON.stringify(body)}`);
      });
      socket.on('error', () => undefined);
      socket.on('close', (code) => {
        if (socket !== this.socket) return;
        if (waiting > 0) return resolve(false);
        this.closed = true;
        if (!this.pod.down) violations.push(`${this.user} was closed (${code}) by ${this.pod.name}, which is up`);
      });
    });
  }

  /** Leaves without a word and comes back with `since`, retrying while the pod refuses (1013) or is down. */
  async rejoin() {
    this.busy = true;
    this.socket?.terminate();
    this.closed = false;
    while (!(await this.connect())) {
      stats.rejoinsRefused++;
      await sleep(500);
    }
    this.busy = false;
  }
}

/** One Redis, and what can go wrong with it. */
async function singleRedis() {
  let redis = await startRedis();
  const { port } = new URL(redis.url);
  const pause = async (ms) => {
    process.kill(redis.pid, 'SIGSTOP');
    await sleep(ms);
    process.kill(redis.pid, 'SIGCONT');
  };
  const cli = (...args) => redis.cli(args);
  return {
    podEnv: { REDIS_URL: redis.url },
    faults: [
      ['Redis paused 1 s (under REDIS_COMMAND_TIMEOUT_MS)', () => pause(1_000)],
      ['Redis paused 5 s', () => pause(5_000)],
      ["Redis closes the pods' subscriber connections", () => cli('CLIENT', 'KILL', 'TYPE', 'pubsub')],
      ["Redis closes the pods' command connections", () => cli('CLIENT', 'KILL', 'TYPE', 'normal')],
      ['Redis crashed (SIGKILL) and started again empty on the same port', async () => {
        await redis.stop('SIGKILL');
        redis = await startRedis({ port });
      }],
      ['Redis paused 12 s', () => pause(12_000)],
      ['FLUSHALL', () => cli('FLUSHALL')],
      ['Redis pauses writes 3 s (CLIENT PAUSE WRITE, as during a failover)', () => cli('CLIENT', 'PAUSE', '3000', 'WRITE')],
      ['Redis out of memory 3 s (maxmemory below its use, noeviction)', async () => {
        await cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
        await cli('CONFIG', 'SET', 'maxmemory', '1');
        await sleep(3_000);
        await cli('CONFIG', 'SET', 'maxmemory', '0');
      }],
    ],
    stop: () => redis.stop(),
  };
}

/** Most a planned or forced failover may take here (cluster-node-timeout 2 s, then the election). */
const FAILOVER_TIMEOUT_MS = 30_000;

/** A Redis Cluster, and what can go wrong with it: each fault hits the shard of one drill room. */
async function redisCluster() {
  const cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 });
  const cli = (port, ...args) => cluster.cli(port, args);
  /** The primary and the replica serving `room` now (its keys and channel share the room's hash tag). */
  const shardOf = async (room) => {
    const slot = Number(await cli(cluster.ports[0], 'CLUSTER', 'KEYSLOT', `{${room}}`));
    const nodes = (await cli(cluster.ports[0], 'CLUSTER', 'NODES')).split('\n').map((line) => line.split(' '));
    const port = (node) => Number(node[1].split(':')[1].split('@')[0]);
    const primary = nodes.find((node) => node[2].includes('master') && !node[2].includes('fail') && node.slice(8).some((range) => {
      const [from, to = from] = range.split('-').map(Number);
      return slot >= from && slot <= to;
    }));
    const replica = nodes.find((node) => node[3] === primary[0] && !node[2].includes('fail'));
    return { primary: port(primary), replica: port(replica) };
  };
  const pidOf = (port) => cluster.pids[cluster.ports.indexOf(port)];
  const isPrimary = async (port) => (await cli(port, 'ROLE')).startsWith('master');
  const inSync = async (port) => (await cli(port, 'INFO', 'replication')).includes('master_link_status:up');
  return {
    podEnv: { REDIS_CLUSTER_NODES: cluster.seeds },
    faults: [
      ["drill:0's primary paused 1 s (under cluster-node-timeout)", async () => {
        const { primary } = await shardOf(ROOMS[0]);
        process.kill(pidOf(primary), 'SIGSTOP');
        await sleep(1_000);
        process.kill(pidOf(primary), 'SIGCONT');
      }],
      ["planned failover of drill:1's shard (CLUSTER FAILOVER on its replica)", async () => {
        const { replica } = await shardOf(ROOMS[1]);
        await cli(replica, 'CLUSTER', 'FAILOVER');
        await waitFor('the planned failover', () => isPrimary(replica), FAILOVER_TIMEOUT_MS, 100);
      }],
      ["every node closes the pods' subscriber connections", () => Promise.all(cluster.ports.map((port) => cli(port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')))],
      ["drill:2's primary crashes (SIGKILL), its replica takes over, it comes back as a replica", async () => {
        const { primary, replica } = await shardOf(ROOMS[2]);
        await cluster.kill(primary);
        await waitFor('the replica to take over', () => isPrimary(replica), FAILOVER_TIMEOUT_MS, 100);
        await cluster.restart(primary);
        await waitFor('the old primary to be a replica in sync', async () => !(await isPrimary(primary)) && (await inSync(primary)), FAILOVER_TIMEOUT_MS, 100);
      }],
      ["drill:3's primary paused 5 s (its replica takes over meanwhile)", async () => {
        const { primary, replica } = await shardOf(ROOMS[3]);
        process.kill(pidOf(primary), 'SIGSTOP');
        await waitFor('the replica to take over', () => isPrimary(replica), FAILOVER_TIMEOUT_MS, 100).finally(() => process.kill(pidOf(primary), 'SIGCONT'));
        await waitFor('the old primary to be a replica in sync', async () => !(await isPrimary(primary)) && (await inSync(primary)), FAILOVER_TIMEOUT_MS, 100);
      }],
    ],
    stop: () => cluster.stop(),
  };
}

/** A primary and two replicas behind three sentinels, and what can go wrong with them. */
async function redisSentinel() {
  const set = await startRedisSentinels({ downAfterMs: 1_000 });
  const isPrimary = async (port) => (await set.cli(port, ['ROLE'])).startsWith('master');
  /** The sentinels agree on a new primary, and it has both replicas again. */
  const failedOverFrom = (old) =>
    waitFor('the failover', async () => {
      const primary = await set.primary();
      return primary !== undefined && primary !== old && (await isPrimary(primary)) && (await set.cli(primary, ['INFO', 'replication'])).includes('connected_slaves:2');
    }, FAILOVER_TIMEOUT_MS, 100);
  return {
    podEnv: { REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_MASTER: set.masterName },
    faults: [
      ['the primary paused 500 ms (under down-after-milliseconds)', async () => {
        const primary = await set.primary();
        process.kill(set.pidOf(primary), 'SIGSTOP');
        await sleep(500);
        process.kill(set.pidOf(primary), 'SIGCONT');
      }],
      ['planned failover (SENTINEL FAILOVER)', async () => {
        const primary = await set.primary();
        await set.cli(set.sentinelPorts[0], ['SENTINEL', 'FAILOVER', set.masterName]);
        await failedOverFrom(primary);
      }],
      ["the primary closes the pods' connections", async () => {
        const primary = await set.primary();
        await set.cli(primary, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        await set.cli(primary, ['CLIENT', 'KILL', 'TYPE', 'normal']);
      }],
      ['the primary crashes (SIGKILL), a replica is promoted, it comes back as a replica', async () => {
        const primary = await set.primary();
        await set.kill(primary);
        await waitFor('a new primary', async () => ![undefined, primary].includes(await set.primary()), FAILOVER_TIMEOUT_MS, 100);
        await set.restart(primary);
        await failedOverFrom(primary);
      }],
      ['the primary paused until it is deposed', async () => {
        const primary = await set.primary();
        process.kill(set.pidOf(primary), 'SIGSTOP');
        await waitFor('a new primary', async () => ![undefined, primary].includes(await set.primary()), FAILOVER_TIMEOUT_MS, 100).finally(() => process.kill(set.pidOf(primary), 'SIGCONT'));
        await failedOverFrom(primary);
      }],
    ],
    stop: () => set.stop(),
  };
}

async function main() {
  const redis = REDIS === 'cluster' ? await redisCluster() : REDIS === 'sentinel' ? await redisSentinel() : await singleRedis();
  const pods = [new Pod('pod A', await freePort(), redis.podEnv), new Pod('pod B', await freePort(), redis.podEnv)];
  const results = { date: new Date().toISOString(), redis: REDIS, clients: CLIENTS, rooms: ROOMS.length, faults: [] };
  try {
    await Promise.all(pods.map((pod) => pod.start()));
    const clients = Array.from({ length: CLIENTS }, (_, index) => new Client(index, pods[index % 2]));
    await Promise.all(clients.map((client) => client.connect()));
    log(`${CLIENTS} clients in ${ROOMS.length} rooms on two pods`);
    /** A figure summed over every client's RoomContinuity. */
    const total = (figure) => clients.reduce((sum, client) => sum + figure(client.continuity), 0);

    let running = true;
    const publishing = publishUntilStopped(pods, () => running);
    const churning = (async () => {
      while (running) {
        await sleep(CHURN_EVERY_MS);
        const client = clients[Math.floor(Math.random() * clients.length)];
        if (client.busy || client.pod.down) continue;
        stats.churns++;
        void client.rejoin();
      }
    })();

    const faults = [
      ...redis.faults,
      ['pod A frozen 8 s (SIGSTOP)', async () => {
        pods[0].frozen = true;
        process.kill(pods[0].child.pid, 'SIGSTOP');
        await sleep(8_000);
        process.kill(pods[0].child.pid, 'SIGCONT');
        // A publish sent on a kept-alive connection while the pod was frozen may be reset when it
        // thaws: Node runs the connection's idle timer before it reads the request (see the docs).
        await sleep(1_000);
        pods[0].frozen = false;
      }],
      ['pod B killed and started again', async () => {
        await pods[1].kill();
        await sleep(1_000);
        await pods[1].start();
        for (const client of clients) if (client.closed && !client.busy) void client.rejoin();
      }],
    ];
    const chosen = faults.filter(([name]) => name.includes(ONLY_FAULTS)).flatMap((fault) => Array(REPEAT).fill(fault));
    if (chosen.length === 0) throw new Error(`no fault's name holds DRILL_FAULTS=${ONLY_FAULTS}`);
    await sleep(SETTLE_MS);
    for (const [name, fault] of chosen) {
      const before = violations.length;
      log(`fault: ${name}`);
      await fault();
      await sleep(SETTLE_MS);
      const recoveries = total((continuity) => continuity.recoveries);
      results.faults.push({ name, violations: violations.length - before, recoveriesSoFar: recoveries });
      log(`  ${violations.length - before} violations; ${recoveries} recovery frames so far`);
    }
    running = false;
    await Promise.all([publishing, churning]);
    await waitFor('every client to be back', () => clients.every((client) => !client.busy), 30_000, 100);
    // Publications still on their way to the members.
    await sleep(2_000);
    await checkEnds(pods[0], clients);
    await checkPresence(pods, clients);
    results.stats = stats;
    results.notificationsReceived = total((continuity) => continuity.received);
    // A drill whose clients heard nothing checked nothing.
    if (results.notificationsReceived < stats.accepted) violations.push(`the clients received ${results.notificationsReceived} notifications for ${stats.accepted} accepted publishes`);
    results.recoveries = total((continuity) => continuity.recoveries);
    results.rejoins = { recovered: total((continuity) => continuity.rejoins.recovered), notRecovered: total((continuity) => continuity.rejoins.notRecovered) };
  } finally {
    await Promise.all(pods.map((pod) => pod.kill()));
    await redis.stop();
  }
  results.violations = violations;
  results.passed = violations.length === 0;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  log(`${stats.publishes} publishes (${stats.accepted} accepted, ${stats.unavailable} answered 503, ${stats.retried} retried with their id), ${stats.churns} rejoins; results in ${OUT}`);
  if (!results.passed) {
    process.stderr.write(`FAULT DRILL FAILED (${results.violations.length}):\n- ${results.violations.slice(0, 40).join('\n- ')}\n`);
    process.exitCode = 1;
  } else log('FAULT DRILL PASSED');
}

/**
 * Publishes to the rooms in turn, through both pods in turn, until stopped. A publish answered
 * 503 is sent once more, with the same `id`, through the other pod a moment later, as a caller
 * following the contract would: it may have been stored all the same, and must then be delivered
 * once (RoomContinuity checks each `n` at most once between fresh starts).
 */
async function publishUntilStopped(pods, running) {
  const authorization = `Bearer ${publisherToken()}`;
  const inFlight = new Set();
  const send = (n, id, pod, retry) => {
    const down = pod.down || pod.frozen;
    return fetch(`http://127.0.0.1:${pod.port}/v1/notifications`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ id, rooms: [ROOMS[n % ROOMS.length]], type: 'drill', payload: { n } }),
      signal: AbortSignal.timeout(15_000),
    }).then(
      async (reply) => {
        if (reply.status === 202) {
          stats.accepted++;
          acceptedPublishes.add(n);
        } else if (reply.status === 503) {
          stats.unavailable++;
          if (retry && running()) {
            stats.retried++;
            retriedPublishes.add(n);
            await sleep(RETRY_AFTER_MS);
            await send(n, id, pods.find((other) => other !== pod), false);
          }
        } else violations.push(`a publish to ${pod.name} was answered ${reply.status}`);
      },
      (error) => {
        if (down || pod.down || pod.frozen) stats.failedWhileDownOrFrozen++;
        else violations.push(`a publish to ${pod.name}, which is up, failed: ${error.message} (${error.cause?.code ?? error.cause?.message ?? 'no cause'})`);
      },
    );
  };
  for (let n = 0; running(); n++) {
    const request = send(n, randomUUID(), pods[n % 2], true);
    inFlight.add(request);
    request.finally(() => inFlight.delete(request));
    stats.publishes++;
    await sleep(PUBLISH_EVERY_MS);
  }
  await Promise.all(inFlight);
}

/** Every member ends on each room's latest seq, which a fresh join reads. */
async function checkEnds(pod, clients) {
  const probe = new Client('-probe', pod);
  if (!(await probe.connect())) throw new Error('the probe could not join');
  for (const room of ROOMS) {
    const latest = probe.continuity.rooms.get(room).lastSeq;
    for (const client of clients) client.continuity.endsAt(room, latest);
  }
  const { socket } = probe;
  // Its own close is no violation: it is no longer the client's socket.
  probe.socket = undefined;
  socket.close();
  for (const client of clients) violations.push(...client.continuity.violations);
  const acknowledgedInTheirLife = new Set([...acceptedPublishes].filter((n) => !retriedPublishes.has(n)));
  violations.push(...lifeEndViolations(clients.map((client) => client.continuity), acknowledgedInTheirLife));
}

/** Presence counts the connected clients, on both pods, once a dead pod's entries expired. */
async function checkPresence(pods, clients) {
  const authorization = `Bearer ${signToken({ sub: 'drill-ops', scope: 'presence:read' })}`;
  const users = new Set(clients.map((client) => client.user));
  let last;
  const matches = async () => {
    for (const pod of pods) {
      for (const room of ROOMS) {
        const presence = await (await fetch(`http://127.0.0.1:${pod.port}/v1/rooms/${room}/presence`, { headers: { authorization } })).json();
        last = `${room} via ${pod.name}: ${presence.connections} connections of ${presence.users.length} users`;
        if (presence.connections !== clients.length || presence.users.length !== users.size || !presence.users.every((user) => users.has(user))) return false;
      }
    }
    return true;
  };
  try {
    await waitFor('presence to count the connected clients', matches, 2 * HEARTBEAT_MS + 10_000, 500);
  } catch {
    violations.push(`presence still wrong ${2 * HEARTBEAT_MS + 10_000} ms after the drill: ${last}, expected ${clients.length} of ${users.size}`);
  }
}

await main();
