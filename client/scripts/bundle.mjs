#!/usr/bin/env node
// dist/herald.js: the whole SDK as one ES module for browsers (`connect`, and `<herald-bell>`
// defined on import), which Herald serves at /sdk/herald.js. The file is only rewritten when
// its content changes, so a server reading it is never handed a half-written file by a
// second build.
import { readFile, writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const client = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(await readFile(join(client, 'package.json'), 'utf8'));
const outfile = join(client, 'dist', 'herald.js');

const result = await build({
  entryPoints: [join(client, 'src', 'browser.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  legalComments: 'none',
  banner: { js: `/* @herald/client ${version} (MIT): the Herald SDK and <herald-bell> as one ES module */` },
  logLevel: 'warning',
});
const text = result.outputFiles[0].text;
const current = await readFile(outfile, 'utf8').catch((error) => {
  if (error.code === 'ENOENT') return null;
  throw error;
});
if (current !== text) {
  // Written beside and renamed into place: readers see the old file or the new one, whole.
  await writeFile(`${outfile}.${process.pid}.tmp`, text);
  await rename(`${outfile}.${process.pid}.tmp`, outfile);
}
