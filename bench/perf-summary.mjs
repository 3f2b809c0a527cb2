import { execFileSync } from 'node:child_process';
import { shortSourcePath } from './lib/source-path.mjs';

/**
 * Prints where a BENCH_PERF recording spent the nodes' main threads: each function's inclusive
 * and self samples (perf samples at 999 Hz, so one sample is about 1 ms), per unit of work when
 * given. Take the file `perf inject --jit` wrote, or JavaScript frames have no names.
 *   node bench/perf-summary.mjs <perf-N.jit.data> [top=40] [per=<count of connects, messages...>] [filter regex]
 */
const [file, top = '40', per, filter = ''] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/perf-summary.mjs <perf-N.jit.data> [top] [per] [filter]\n');
  process.exit(2);
}
const script = execFileSync('perf', ['script', '-i', file, '-F', 'pid,tid,ip,sym', '--no-inline'], { encoding: 'utf8', maxBuffer: 2 ** 31 - 1, stdio: ['ignore', 'pipe', 'ignore'] });
const inclusive = new Map();
const self = new Map();
let samples = 0;
/** A frame's name without V8's tier marks (`*` optimized, `~` interpreted...) and machine paths. */
const nameOf = (line) => shortSourcePath((line.trim().split(/\s+/).slice(1).join(' ') || '?').replace(/^JS:[*+~^]?'?/, ''));
for (const block of script.split('\n\n')) {
  const lines = block.split('\n').filter((line) => line.trim());
  const ids = /^\s*(\d+)\/(\d+)/.exec(lines[0] ?? '');
  // Main threads only (thread id = process id): V8's and libuv's other threads have their own rows in BENCH_THREADS.
  if (!ids || ids[1] !== ids[2]) continue;
  samples++;
  const frames = lines.slice(1).map(nameOf);
  if (frames.length > 0) self.set(frames[0], (self.get(frames[0]) ?? 0) + 1);
  for (const frame of new Set(frames)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + 1);
}
const count = per === undefined ? undefined : Number(per);
const show = (value) => (count ? ((value * 1000) / count).toFixed(1).padStart(8) : String(value).padStart(7));
process.stdout.write(`${samples} main-thread samples${count ? `; figures in us per unit (${count} units)` : ''}: inclusive, self\n`);
const pattern = new RegExp(filter);
const rows = [...inclusive.entries()].filter(([name]) => pattern.test(name)).sort((a, b) => b[1] - a[1]);
for (const [name, value] of rows.slice(0, Number(top))) process.stdout.write(`${show(value)} ${show(self.get(name) ?? 0)}  ${name.slice(0, 140)}\n`);
