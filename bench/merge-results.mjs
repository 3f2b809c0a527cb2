import { readFileSync, writeFileSync } from 'node:fs';
import { render } from './render.mjs';

/**
 * Puts the scenarios of a partial run (BENCH_SCENARIOS / BENCH_TARGETS) into a full run's
 * results.json, target by target, records which rows came from where, and renders again.
 *   node bench/merge-results.mjs <full results.json> <partial results.json> "<why it was re-run>"
 */
const [fullPath, partialPath, reason] = process.argv.slice(2);
if (!fullPath || !partialPath || !reason) {
  process.stderr.write('usage: node bench/merge-results.mjs <full results.json> <partial results.json> "<why>"\n');
  process.exit(2);
}
const full = JSON.parse(readFileSync(fullPath, 'utf8'));
const partial = JSON.parse(readFileSync(partialPath, 'utf8'));
const scenarios = Object.keys(partial.scenarios);
const targets = [...new Set(scenarios.flatMap((scenario) => Object.keys(partial.scenarios[scenario])))];
for (const scenario of scenarios) {
  full.scenarios[scenario] = { ...full.scenarios[scenario], ...partial.scenarios[scenario] };
  if (partial.config?.[scenario]) full.config[scenario] = partial.config[scenario];
}
full.reruns = [...(full.reruns ?? []), { startedAt: partial.startedAt, command: partial.command, scenarios, targets, reason }];
writeFileSync(fullPath, `${JSON.stringify(full, null, 2)}\n`);
await render(fullPath);
process.stdout.write(`Merged ${scenarios.join(', ')} of ${targets.join(', ')} into ${fullPath}\n`);
