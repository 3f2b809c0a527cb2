import { Fleet } from '../lib/fleet.mjs';
import { cpuOf, round } from '../lib/measure.mjs';
import { sleep } from '../lib/processes.mjs';
import { startTarget } from '../lib/targets.mjs';

const mb = (bytes) => round(bytes / 2 ** 20, 1);

/**
 * Idle memory: authenticated connections that each joined one room, added in steps. Per
 * connection = (RSS or heap after a full GC at N connections - the same before any) / N, summed
 * over the target's nodes (connections take turns between them, as behind a load balancer).
 * Also the admission cost: server CPU per connection while the step connected (Redis apart).
 *
 * A warm-up batch connects and leaves before the baseline, the same for every target: what the
 * first connections cause once (JIT-compiled code, which counts as heap, and the young
 * generation growing to its working size, which counts as RSS) is a cost of the process, not
 * of each connection, and would otherwise be divided among the first step's connections.
 */
export async function idle(ctx, targetName) {
  const { steps, warmup } = ctx.config.idle;
  const target = await startTarget(targetName, ctx.targetOptions);
  const { nodes } = target;
  const fleet = new Fleet(target.target, nodes[0]);
  // Connections that join and leave again, then a pause for their cleanup: before the baseline,
  // and again before each step's CPU window, because the memory probe's forced full GCs throw
  // away optimized code whose embedded maps and closures no live object held at that moment (V8
  // deoptimizes it: "embedded weak objects cleared"). Without it each step would pay for
  // compiling its server's hot path again, which no production pod does after a probe.
  const warmUp = async () => {
    const warm = new Fleet(target.target, nodes[0]);
    await warm.connect({ count: warmup, prefix: 'warm', rooms: ['bench:idle'], nodes });
    warm.closeAll();
    await sleep(2000);
    return warm.connectErrors;
  };
  let warmErrors = 0;
  try {
    warmErrors += await warmUp();
    const base = await target.memoryOfAll();
    ctx.log(`  ${targetName} idle base: ${base.perNode.map((m) => `rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB`).join('; ')}`);
    const points = [];
    let connected = 0;
    for (const [index, total] of steps.entries()) {
      if (index > 0) warmErrors += await warmUp();
      const cpu = cpuOf(target);
      await fleet.connect({ count: total - connected, offset: connected, rooms: ['bench:idle'], nodes });
      const { cpuUs, wallMs, redisCpuUs, threads } = cpu.stop();
      const added = fleet.clients.length - connected;
      connected = fleet.clients.length;
      await sleep(1000);
      const memory = await target.memoryOfAll();
      const perConnect = (us) => round(us / Math.max(1, added), 1);
      const point = {
        connections: connected,
        rssPerConnKb: round((memory.rss - base.rss) / connected / 1024),
        heapPerConnKb: round((memory.heapUsed - base.heapUsed) / connected / 1024),
        rssMb: mb(memory.rss),
        heapUsedMb: mb(memory.heapUsed),
        connectPerS: round((added / wallMs) * 1000, 0),
        cpuUsPerConnect: perConnect(cpuUs),
        ...(redisCpuUs === undefined ? {} : { redisCpuUsPerConnect: perConnect(redisCpuUs) }),
        ...(threads === undefined ? {} : { threadsUsPerConnect: Object.fromEntries(Object.entries(threads).map(([key, us]) => [key, perConnect(us)])) }),
        rssMbPerNode: memory.perNode.map((m) => mb(m.rss)),
      };
      points.push(point);
      const pods = memory.perNode.map((m) => `rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} ext ${mb(m.external)} MB`).join('; ');
      const split = point.threadsUsPerConnect;
      const splitText = split ? ` [main ${split.mainUserUs} user + ${split.mainSystemUs} sys, other threads ${split.otherThreadsUs} us]` : '';
      ctx.log(`  ${targetName} idle ${connected}: rss/conn ${point.rssPerConnKb} KB, heap/conn ${point.heapPerConnKb} KB, ${point.cpuUsPerConnect} us CPU/connect${splitText} (${pods})`);
    }
    return { nodes: nodes.length, warmup, baseRssMb: mb(base.rss), baseHeapMb: mb(base.heapUsed), points, connectErrors: fleet.connectErrors + warmErrors };
  } finally {
    fleet.closeAll();
    await target.stop();
  }
}
