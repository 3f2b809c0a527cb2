import { Fleet } from '../lib/fleet.mjs';
import { cpuOf, round, until } from '../lib/measure.mjs';
import { sleep } from '../lib/processes.mjs';
import { Publisher } from '../lib/publisher.mjs';
import { startTarget } from '../lib/targets.mjs';

const ROOM = 'bench:xpod';

/** Members connected to node B, publishes sent to node A: every delivery crosses Redis. */
export async function crossPod(ctx, targetName) {
  const { members, ratePerS, durationMs } = ctx.config.crossPod;
  const target = await startTarget(targetName, ctx.targetOptions);
  const [nodeA, nodeB] = target.nodes;
  const fleet = new Fleet(target.target, nodeB);
  const publisher = new Publisher(nodeA.port);
  try {
    await fleet.connect({ count: members, rooms: [ROOM] });
    if (fleet.clients.length < members) throw new Error(`only ${fleet.clients.length} of ${members} members connected`);
    await sleep(500);
    await publisher.atRate(ratePerS, 1000, () => ({ rooms: [ROOM] }));
    await until(() => fleet.received >= publisher.accepted * members, 5000);
    fleet.resetStats();
    fleet.countFrom = publisher.sent;
    const acceptedBefore = publisher.accepted;
    const cpu = cpuOf(target);
    await publisher.atRate(ratePerS, durationMs, () => ({ rooms: [ROOM] }));
    const expected = () => (publisher.accepted - acceptedBefore) * members;
    await until(() => fleet.received >= expected(), 10_000);
    const { cpuUs, wallMs, redisCpuUs } = cpu.stop();
    const result = {
      members,
      ratePerS,
      published: publisher.accepted - acceptedBefore,
      delivered: fleet.received,
      lost: expected() - fleet.received,
      outOfOrder: fleet.outOfOrder,
      deliveredPerS: round((fleet.received / wallMs) * 1000, 0),
      cpuUsPerDelivered: round(cpuUs / Math.max(1, fleet.received), 3),
      redisCpuUsPerDelivered: round(redisCpuUs / Math.max(1, fleet.received), 3),
      latencyMs: fleet.histogram.summaryMs(),
      publishFailures: publisher.failed,
    };
    ctx.log(`  ${targetName} cross-pod: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${result.cpuUsPerDelivered} us CPU/msg, lost ${result.lost}`);
    return result;
  } finally {
    publisher.close();
    fleet.closeAll();
    await target.stop();
  }
}
