import { Fleet } from '../lib/fleet.mjs';
import { cpuOf, round, until } from '../lib/measure.mjs';
import { sleep } from '../lib/processes.mjs';
import { Publisher } from '../lib/publisher.mjs';
import { startTarget } from '../lib/targets.mjs';

/**
 * `users` connections (spread over the target's nodes), each only in its personal room;
 * notifications at `ratePerS` to the first node, to one random user each (`{"users": ["u123"]}`).
 * Here every delivery pays a whole HTTP publish.
 */
export async function notifications(ctx, targetName) {
  const { users, ratePerS, durationMs } = ctx.config.notifications;
  const target = await startTarget(targetName, ctx.targetOptions);
  const fleet = new Fleet(target.target, target.nodes[0]);
  const publisher = new Publisher(target.nodes[0].port);
  let seed = 42;
  const randomUser = () => {
    // In 32-bit integer arithmetic: as a double, seed * 1103515245 passed 2^53 and lost its low
    // bits, so almost every pick was an even user, all connected to the first pod.
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return `u${seed % users}`;
  };
  try {
    await fleet.connect({ count: users, rooms: [], nodes: target.nodes });
    if (fleet.clients.length < users) throw new Error(`only ${fleet.clients.length} of ${users} users connected`);
    await sleep(500);
    await publisher.atRate(ratePerS, 1000, () => ({ users: [randomUser()] }));
    await until(() => fleet.received >= publisher.accepted, 5000);
    fleet.resetStats();
    fleet.countFrom = publisher.sent;
    const acceptedBefore = publisher.accepted;
    const cpu = cpuOf(target);
    const { behind } = await publisher.atRate(ratePerS, durationMs, () => ({ users: [randomUser()] }));
    const expected = () => publisher.accepted - acceptedBefore;
    await until(() => fleet.received >= expected(), 10_000);
    const { cpuUs, wallMs, redisCpuUs } = cpu.stop();
    const result = {
      nodes: target.nodes.length,
      users,
      ratePerS,
      published: expected(),
      delivered: fleet.received,
      lost: expected() - fleet.received,
      outOfOrder: fleet.outOfOrder,
      behind,
      deliveredPerS: round((fleet.received / wallMs) * 1000, 0),
      cpuUsPerDelivered: round(cpuUs / Math.max(1, fleet.received), 1),
      ...(redisCpuUs === undefined ? {} : { redisCpuUsPerDelivered: round(redisCpuUs / Math.max(1, fleet.received), 1) }),
      latencyMs: fleet.histogram.summaryMs(),
      publishFailures: publisher.failed,
    };
    ctx.log(`  ${targetName} notifications: ${result.deliveredPerS}/s, ${result.cpuUsPerDelivered} us CPU/notification, p99 ${result.latencyMs.p99} ms, lost ${result.lost}`);
    return result;
  } finally {
    publisher.close();
    fleet.closeAll();
    await target.stop();
  }
}
