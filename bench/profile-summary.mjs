import { readFileSync } from 'node:fs';
import { frameKey } from './lib/source-path.mjs';

/**
 * Prints where a V8 .cpuprofile (from BENCH_PROFILE=1, i.e. node --cpu-prof) spent its time:
 * the top functions by self time, with their share of all samples.
 *   node bench/profile-summary.mjs <file.cpuprofile> [top=25]
 */
const [file, top = '25'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/profile-summary.mjs <file.cpuprofile> [top]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const selfUs = new Map();
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const deltas = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const key = frameKey(node.callFrame);
  selfUs.set(key, (selfUs.get(key) ?? 0) + (deltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const idle = [...selfUs.entries()].filter(([key]) => key.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
process.stdout.write(`total ${(total / 1e6).toFixed(1)} s, busy ${((total - idle) / 1e6).toFixed(1)} s\n`);
for (const [key, us] of [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  process.stdout.write(`${((100 * us) / (total - idle)).toFixed(1).padStart(5)}%  ${key}\n`);
}
