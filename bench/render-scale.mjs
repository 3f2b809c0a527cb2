import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The "connections at scale" section of docs/benchmarks.md, from the scale-*.json files that
 * bench/scale.mjs writes next to results.json (one per shape run: connections x pods). Empty
 * when there are none.
 */
export function scaleSection(dir) {
  const runs = existsSync(dir)
    ? readdirSync(dir)
        .filter((file) => /^scale-.*\.json$/.test(file))
        .map((file) => ({ file, ...JSON.parse(readFileSync(join(dir, file), 'utf8')) }))
        .sort((a, b) => b.config.connections - a.config.connections || a.config.pods - b.config.pods)
    : [];
  if (runs.length === 0) return [];
  const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '-'));
  const shape = (r) => `${fmt(r.config.connections)} on ${r.config.pods} pods`;
  const md = [];
  md.push('## Connections at scale: one room, every connection in it', '');
  md.push(
    'Herald in the production shape at the size of a large deployment: pods on one private Redis, authenticated connections spread evenly over the pods (client i on pod i mod pods), every connection joined to the same room. ' +
      'The clients live in several load-generator processes (each holds at most its open-file limit of sockets). ' +
      'After admission the connections sit idle for a while (heartbeats every HEARTBEAT_MS, default 25 s, and presence refresh every HEARTBEAT_MS / 2 go on), then a handful of broadcasts are published over HTTP to the first pod, one at a time, a few seconds apart: ' +
      '"last member" is the time from the publish until the last of all members had it.',
    '',
  );
  md.push('| Run | Admission: all joined after s | Connects/s | Pod CPU us / connect | Redis CPU us / connect | Failed joins | RSS KB / conn (each pod) | Heap KB / conn | Redis memory MB (B / conn) | Idle CPU per pod | Idle Redis CPU | Machine busy (admission / idle) | Result |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const a = r.admission ?? {};
    const m = r.memory ?? {};
    const result = r.passed ? 'passed' : `**failed**: ${(r.failures ?? [r.error ?? 'did not finish']).join('; ')}`;
    md.push(
      `| ${shape(r)} | ${a.wallMs === undefined ? '-' : (a.wallMs / 1000).toFixed(1)} | ${fmt(a.connectsPerS)} | ${a.podCpuUsPerConnect ?? '-'} | ${a.redisCpuUsPerConnect ?? '-'} | ${a.failed ?? '-'} (${fmt(a.retried ?? 0)} retried) | ${m.rssPerConnKb ?? '-'} (${(m.pods ?? []).map((p) => p.rssPerConnKb).join(' / ')}) | ${m.heapPerConnKb ?? '-'} | ${m.redis ? `${m.redis.usedMemoryMb} (${fmt(m.redis.bytesPerConn)})` : '-'} | ${r.idle ? `${r.idle.podCpuPercent}%` : '-'} | ${r.idle ? `${r.idle.redisCpuPercent}%` : '-'} | ${a.machineBusyPercent ?? '-'}% / ${r.idle?.machineBusyPercent ?? '-'}% | ${result} |`,
    );
  }
  md.push('');
  md.push('| Run | Broadcast | Publish answered (ms) | Last member ms | p50 ms | p99 ms | Delivered | Lost | Out of order | Pod CPU ms (all pods) | Redis CPU us | Load generators CPU ms | Everything else, CPU ms | Machine busy |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    (r.broadcasts ?? []).forEach((b, i) => {
      md.push(`| ${shape(r)} | ${i + 1} | ${b.status === 202 ? b.publishMs : `**HTTP ${b.status}${b.error ? `: ${b.error}` : ''}**`} | ${fmt(b.lastMemberMs)} | ${fmt(b.p50Ms)} | ${fmt(b.p99Ms)} | ${fmt(b.received)} / ${fmt(b.expected)} | ${b.lost} | ${b.outOfOrder} | ${b.podCpuMs} | ${fmt(b.redisCpuUs)} | ${b.generatorCpuMs ?? '-'} | ${fmt(b.otherCpuMs)} | ${b.machineBusyPercent === undefined ? '-' : `${b.machineBusyPercent}%`} |`);
    });
  }
  md.push('');
  md.push('CPU columns cover the whole window from the publish until the last member had it, so they include what runs anyway meanwhile (heartbeats, presence refresh: see the idle columns above). "Machine busy" is every core of the host over that window (from `/proc/stat`); "everything else" is the busy core time that was neither the pods, Redis nor the load generators: other work on the shared host, softirq time in the kernel, this runner.', '');
  for (const r of runs) {
    const errors = r.admission?.errors ?? [];
    if (errors.length > 0) md.push(`- ${shape(r)}, why joins were retried: ${errors.map(([reason, n]) => `${fmt(n)} x "${reason}"`).join('; ')}. Load generators retry a failed connection (up to ${r.config.retries} times), as the SDK does.`);
  }
  for (const r of runs) {
    if ((r.podLog ?? []).length > 0) md.push(`- ${shape(r)}, what the pods logged (LOG_LEVEL=warn, by message): ${r.podLog.map(([message, n]) => `${fmt(n)} x "${message}"`).join('; ')}.`);
  }
  if (runs.some((r) => (r.admission?.errors ?? []).length > 0 || (r.podLog ?? []).length > 0)) md.push('');
  const first = runs[0];
  const m = first.machine;
  md.push(`- Commands: ${runs.map((r) => `\`${r.command}\``).join(', ')} (after \`npm run build\`; runs started ${runs.map((r) => r.startedAt).join(', ')}). Not part of \`npm run bench\`: each run takes minutes.`);
  md.push(
    `- Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node.js ${m.node}, shared with other work. **Everything runs on this one host**: the pods, Redis and the load generators (which spend ${runs.map((r) => `${r.admission?.generatorCpuUsPerConnect ?? '-'} us`).join(' / ')} of CPU per connect themselves) take turns on ${m.cores} cores with whatever else the host runs (the "everything else" column), so admission and delivery times are those of a machine saturated by the test itself, over loopback. They are upper bounds for the same work on dedicated pods; per-connection memory and CPU per connect and per delivery are the transferable figures (CPU time too grows somewhat on a contended host).`,
  );
  const perProcess = first.limits?.openFiles;
  const podCapacity = Number.isFinite(perProcess) ? perProcess - (first.limits?.podFilesIdle ?? 0) : undefined;
  if (podCapacity !== undefined) {
    md.push(
      `- Open files: a process may hold ${fmt(perProcess)} files here (hard limit ${first.limits?.openFilesHard}), and every socket is one. An idle pod holds ${first.limits?.podFilesIdle} files already, so a pod holds at most ${fmt(podCapacity)} connections and five pods ${fmt(5 * podCapacity)}` +
        (5 * podCapacity < 100_000 ? ': **100,000 connections on five pods cannot run on this machine** (`bench/scale.mjs` refuses such a shape up front and names the pod count that fits).' : '.'),
    );
  }
  md.push('- RSS and heap per connection: growth after two full GCs over the same pod before the run (after a warm-up of connections that joined and left), divided by the connections that pod holds. Heap is exact live bytes and steady from pod to pod; RSS swings widely between pods of the same run, because V8 and malloc hand pages back to the system unevenly (a pod can even end below its own baseline plus its heap growth), so read the mean over the pods and plan with the largest. Redis CPU is Redis\'s own count (`INFO cpu`, microseconds); pod CPU is from `/proc` (10 ms ticks). See [sizing.md](sizing.md) for what these figures project to a million connections.');
  md.push('');
  return md;
}
