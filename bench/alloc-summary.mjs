import { readFileSync } from 'node:fs';
import { frameKey } from './lib/source-path.mjs';

/**
 * Prints where a sampling allocation profile (BENCH_PROFILE=alloc, a .heapprofile) says memory
 * was allocated: the top functions by bytes allocated in them (not in what they call), with their
 * share of the window's total, and the total per `per` units of work when given.
 *   node bench/alloc-summary.mjs <file.heapprofile> [top=25] [per=<count of connects, messages...>]
 */
const [file, top = '25', per] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/alloc-summary.mjs <file.heapprofile> [top] [per]\n');
  process.exit(2);
}
const { head } = JSON.parse(readFileSync(file, 'utf8'));
const bytes = new Map();
const visit = (node) => {
  const self = node.selfSize ?? 0;
  if (self > 0) {
    const key = frameKey(node.callFrame);
    bytes.set(key, (bytes.get(key) ?? 0) + self);
  }
  for (const child of node.children ?? []) visit(child);
};
visit(head);
const total = [...bytes.values()].reduce((a, b) => a + b, 0);
const count = per === undefined ? undefined : Number(per);
process.stdout.write(`total ${(total / 2 ** 20).toFixed(1)} MB sampled${count ? `, ${(total / count / 1024).toFixed(2)} KB per unit` : ''}\n`);
for (const [key, size] of [...bytes.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  process.stdout.write(`${((100 * size) / total).toFixed(1).padStart(5)}%  ${count ? `${(size / count).toFixed(0).padStart(6)} B  ` : ''}${key}\n`);
}
