import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/** Every script under bench/: npm test runs none of them (they take minutes), so a typo went unseen until a benchmark run. */
function benchScripts(directory = join(ROOT, 'bench')): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return benchScripts(path);
    return entry.name.endsWith('.mjs') ? [path] : [];
  });
}

describe('the benchmark and drill scripts', () => {
  it.each(benchScripts().map((path) => [relative(ROOT, path), path]))('%s parses', async (_name, path) => {
    await expect(run(process.execPath, ['--check', path])).resolves.toBeDefined();
  });
});
