#!/usr/bin/env node
// Builds @herald/client (client/dist) and the server (dist/) without ever deleting or rewriting
// output that is up to date, one build at a time: `npm start` in one terminal and `npm test` in
// another may both build, and neither may pull dist/main.js or client/dist from under the other.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import lockfile from 'proper-lockfile';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// A directory lock next to package.json; a build that died leaves a lock that goes stale
// (its mtime is no longer refreshed) and is then taken over.
const release = await lockfile.lock(join(root, 'package.json'), {
  lockfilePath: join(root, '.build.lock'),
  stale: 15_000,
  retries: { retries: 600, minTimeout: 200, maxTimeout: 500 },
  onCompromised: (error) => {
    process.stderr.write(`build lock lost: ${error.message}\n`);
    process.exit(1);
  },
});

let code = 0;
try {
  // Build mode (-b) compares sources with the recorded build info and writes nothing when all
  // is current, so a second build finds the first one's output and leaves it alone.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const args of [
    [tsc, '-b', 'client/tsconfig.json'],
    [join(root, 'client', 'scripts', 'bundle.mjs')],
    [tsc, '-b', 'tsconfig.json'],
  ]) {
    const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) {
      code = result.status ?? 1;
      break;
    }
  }
} finally {
  await release();
}
process.exit(code);
