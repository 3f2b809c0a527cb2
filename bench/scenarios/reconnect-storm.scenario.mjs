import { Fleet } from '../lib/fleet.mjs';
import { round, until } from '../lib/measure.mjs';
import { cpuMicros, sleep } from '../lib/processes.mjs';
import { Publisher } from '../lib/publisher.mjs';
import { startTarget } from '../lib/targets.mjs';

const ROOM = 'bench:storm';

/**
 * `clients` on node A while notifications flow through node B; node A is drained (SIGTERM:
 * 1012 spread over DRAIN_SPREAD_MS) and every client reconnects to B after a short random delay,
 * rejoining with `since` (the last seq it saw) where the target supports it. Measured: time
 * from SIGTERM until every client is back, how many were promised full recovery, failed
 * attempts, and notifications missed by the end (a target without history loses what was
 * published while a client was away).
 */
export async function reconnectStorm(ctx, targetName) {
  const { clients, ratePerS, drainSpreadMs, jitterMs } = ctx.config.storm;
  const target = await startTarget(targetName, { ...ctx.targetOptions, env: { DRAIN_DELAY_MS: '0', DRAIN_SPREAD_MS: String(drainSpreadMs) } });
  const [nodeA, nodeB] = target.nodes;
  const fleet = new Fleet(target.target, nodeA);
  const publisher = new Publisher(nodeB.port);
  let stopPublishing = false;
  try {
    await fleet.connect({ count: clients, rooms: [ROOM] });
    if (fleet.clients.length < clients) throw new Error(`only ${fleet.clients.length} of ${clients} clients connected`);
    await sleep(500);
    fleet.countFrom = publisher.sent;
    const publishing = (async () => {
      while (!stopPublishing) await publisher.atRate(ratePerS, 500, () => ({ rooms: [ROOM] }));
    })();
    await until(() => fleet.received >= publisher.accepted * clients && publisher.accepted > 5, 10_000);

    let back = 0;
    let failedAttempts = 0;
    let recovered = 0;
    let notRecovered = 0;
    let lastBackAt = 0;
    const reconnect = async (client) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        await sleep(Math.random() * jitterMs * (attempt + 1));
        try {
          const since = target.target.family === 'herald' ? client.lastSeq : undefined;
          await client.open(nodeB, [ROOM], since);
          const joined = client.joined.get(ROOM);
          if (joined?.recovered === true) recovered++;
          else notRecovered++;
          back++;
          lastBackAt = performance.now();
          return;
        } catch {
          failedAttempts++;
        }
      }
    };
    for (const client of fleet.clients) client.onClose = (c) => void reconnect(c);
    const receivingCpuBefore = cpuMicros(nodeB.pid);
    const drainStarted = performance.now();
    const stopping = target.stopNode(nodeA, 60_000);
    const allBack = await until(() => back >= fleet.clients.length, 60_000);
    // Pod B's work for the storm (admissions, rejoins, their replays) and for the notifications it fans out meanwhile.
    const receivingCpuUs = cpuMicros(nodeB.pid) - receivingCpuBefore;
    const exit = await stopping;
    await sleep(1000);
    stopPublishing = true;
    await publishing;
    const expectedPerClient = publisher.accepted;
    await until(() => fleet.clients.every((client) => client.received >= expectedPerClient), 5000);
    const missed = fleet.clients.reduce((sum, client) => sum + Math.max(0, expectedPerClient - client.received), 0);
    const result = {
      clients,
      allBack,
      back,
      timeToAllBackMs: round(lastBackAt - drainStarted, 0),
      receivingPodCpuUsPerClient: round(receivingCpuUs / fleet.clients.length, 0),
      recovered,
      notRecovered,
      failedAttempts,
      published: expectedPerClient,
      missed,
      duplicatesDropped: fleet.outOfOrder,
      drainExit: exit?.code ?? exit?.signal ?? null,
    };
    ctx.log(`  ${targetName} storm: all back in ${result.timeToAllBackMs} ms, pod B ${result.receivingPodCpuUsPerClient} us CPU per client, recovered ${recovered}/${clients}, missed ${missed}, failed attempts ${failedAttempts}`);
    return result;
  } finally {
    stopPublishing = true;
    publisher.close();
    fleet.closeAll();
    await target.stop();
  }
}
