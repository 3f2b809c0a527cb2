import { Fleet } from '../lib/fleet.mjs';
import { cpuOf, round, until } from '../lib/measure.mjs';
import { sleep } from '../lib/processes.mjs';
import { Publisher } from '../lib/publisher.mjs';
import { startTarget } from '../lib/targets.mjs';

/**
 * Herald's batch publish against its single publish, at the same notification rate: `users`
 * connections (spread over the nodes) in their personal rooms, `ratePerS` notifications a second
 * to one random user each, to the first node, first as single POSTs, then in batches of each of
 * `batchSizes`; then all of it again with an idempotency id on every notification (`withIds`:
 * each id claimed before it is published, as a careful publisher sends them). Per phase: server
 * CPU per delivered notification (nodes, and Redis apart), loss.
 */
export async function batchPublish(ctx, targetName) {
  const { users, ratePerS, durationMs, batchSizes } = ctx.config.batch;
  const target = await startTarget(targetName, ctx.targetOptions);
  const fleet = new Fleet(target.target, target.nodes[0]);
  const publisher = new Publisher(target.nodes[0].port);
  let seed = 7;
  let ids = 0;
  const randomUser = () => {
    // In 32-bit integer arithmetic: as a double, seed * 1103515245 passed 2^53 and lost its low
    // bits, so almost every pick was an even user, all connected to the first pod.
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return { users: [`u${seed % users}`] };
  };
  const randomUserWithId = () => ({ ...randomUser(), id: `bench-${++ids}` });
  try {
    await fleet.connect({ count: users, rooms: [], nodes: target.nodes });
    if (fleet.clients.length < users) throw new Error(`only ${fleet.clients.length} of ${users} users connected`);
    await sleep(500);
    // Warm-up of both paths: JIT, keep-alive connections.
    await publisher.atRate(ratePerS, 1000, randomUser);
    for (const size of batchSizes) await publisher.publishBatch(Array.from({ length: size }, randomUser));
    await until(() => fleet.received >= publisher.accepted, 5000);

    const phase = async (name, run) => {
      fleet.resetStats();
      fleet.countFrom = publisher.sent;
      const acceptedBefore = publisher.accepted;
      const cpu = cpuOf(target);
      await run();
      const expected = () => publisher.accepted - acceptedBefore;
      await until(() => fleet.received >= expected(), 10_000);
      const { cpuUs, wallMs, redisCpuUs } = cpu.stop();
      const result = {
        published: expected(),
        delivered: fleet.received,
        lost: expected() - fleet.received,
        outOfOrder: fleet.outOfOrder,
        cpuUsPerNotification: round(cpuUs / Math.max(1, fleet.received), 1),
        ...(redisCpuUs === undefined ? {} : { redisCpuUsPerNotification: round(redisCpuUs / Math.max(1, fleet.received), 1) }),
        wallMs: round(wallMs, 0),
        latencyMs: fleet.histogram.summaryMs(),
      };
      ctx.log(`  ${targetName} batch ${name}: ${result.cpuUsPerNotification} us CPU/notification, lost ${result.lost}`);
      return result;
    };

    const measure = async (suffix, notification) => {
      const single = await phase(`single${suffix}`, () => publisher.atRate(ratePerS, durationMs, notification));
      const batches = {};
      for (const size of batchSizes) {
        // The same notifications per second as the single phase, `size` to a request.
        batches[size] = await phase(`x${size}${suffix}`, async () => {
          const started = performance.now();
          const pending = [];
          for (let sent = 0; sent * size < (ratePerS * durationMs) / 1000; sent++) {
            const due = started + (sent * size * 1000) / ratePerS;
            if (due > performance.now()) await sleep(due - performance.now());
            pending.push(publisher.publishBatch(Array.from({ length: size }, notification)));
          }
          await Promise.all(pending);
        });
      }
      const cpuRatioToSingle = Object.fromEntries(batchSizes.map((size) => [size, round(batches[size].cpuUsPerNotification / single.cpuUsPerNotification, 2)]));
      return { single, batches, cpuRatioToSingle };
    };
    const { single, batches, cpuRatioToSingle: ratios } = await measure('', randomUser);
    const identified = await measure(' with ids', randomUserWithId);
    return { nodes: target.nodes.length, users, ratePerS, single, batches, cpuRatioToSingle: ratios, withIds: identified, publishFailures: publisher.failed, lastError: publisher.lastError };
  } finally {
    publisher.close();
    fleet.closeAll();
    await target.stop();
  }
}
