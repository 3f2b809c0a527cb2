import { Fleet } from '../lib/fleet.mjs';
import { cpuOf, round, until } from '../lib/measure.mjs';
import { sleep } from '../lib/processes.mjs';
import { Publisher } from '../lib/publisher.mjs';
import { startTarget } from '../lib/targets.mjs';

const ROOM = 'bench:fanout';

/**
 * One room of `members` (spread over the target's nodes), publishes over HTTP to the first node:
 * first at a fixed rate, then as fast as the whole path allows (a bounded window of publishes not yet delivered to everyone). For each phase:
 * delivered messages/s, server CPU per delivered message, publish-to-receive latency, loss, order.
 */
export async function fanout(ctx, targetName) {
  const { members, fixedRatePerS, durationMs, window } = ctx.config.fanout;
  const target = await startTarget(targetName, ctx.targetOptions);
  const fleet = new Fleet(target.target, target.nodes[0]);
  const publisher = new Publisher(target.nodes[0].port);
  try {
    await fleet.connect({ count: members, rooms: [ROOM], nodes: target.nodes });
    if (fleet.clients.length < members) throw new Error(`only ${fleet.clients.length} of ${members} members connected`);
    await sleep(500);
    // Warm-up: JIT, HTTP keep-alive connections.
    await publisher.atRate(fixedRatePerS, 1000, () => ({ rooms: [ROOM] }));
    await until(() => fleet.received >= publisher.accepted * members, 5000);

    const phase = async (name, run) => {
      fleet.resetStats();
      fleet.countFrom = publisher.sent;
      const acceptedBefore = publisher.accepted;
      const cpu = cpuOf(target);
      const started = performance.now();
      await run();
      const expected = () => (publisher.accepted - acceptedBefore) * members;
      await until(() => fleet.received >= expected(), 15_000);
      const elapsedMs = performance.now() - started;
      const { cpuUs, redisCpuUs } = cpu.stop();
      const result = {
        publishes: publisher.accepted - acceptedBefore,
        delivered: fleet.received,
        expected: expected(),
        lost: expected() - fleet.received,
        outOfOrder: fleet.outOfOrder,
        deliveredPerS: round((fleet.received / elapsedMs) * 1000, 0),
        cpuUsPerDelivered: round(cpuUs / Math.max(1, fleet.received), 3),
        serverCpuCores: round(cpuUs / 1000 / elapsedMs, 2),
        ...(redisCpuUs === undefined ? {} : { redisCpuUsPerDelivered: round(redisCpuUs / Math.max(1, fleet.received), 3) }),
        latencyMs: fleet.histogram.summaryMs(),
        closedUnexpectedly: fleet.closedUnexpectedly,
      };
      ctx.log(`  ${targetName} fanout ${name}: ${result.deliveredPerS}/s, ${result.cpuUsPerDelivered} us CPU/msg, p99 ${result.latencyMs.p99} ms, lost ${result.lost}, out of order ${result.outOfOrder}`);
      return result;
    };

    const fixed = await phase('fixed', () => publisher.atRate(fixedRatePerS, durationMs, () => ({ rooms: [ROOM] })));
    const pending = () => publisher.sent - fleet.countFrom - fleet.received / members;
    const max = await phase('max', () => publisher.asFastAsPossible(durationMs, { rooms: [ROOM] }, window, pending));
    return { nodes: target.nodes.length, members, fixedRatePerS, fixed, max, publishFailures: publisher.failed, connectErrors: fleet.connectErrors };
  } finally {
    publisher.close();
    fleet.closeAll();
    await target.stop();
  }
}
