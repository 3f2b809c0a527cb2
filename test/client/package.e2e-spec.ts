import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTestApp, type TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';

const run = promisify(execFile);
const clientDir = join(__dirname, '..', '..', 'client');

/** docs/client.md's second way: `npm pack` in client/, then `npm install` of the tarball in an app. */
describe('@herald/client as an installable tarball', () => {
  let work: string;
  let tarball: string;
  let files: string[];
  let herald: TestApp;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'herald-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: clientDir });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed.filename);
    files = packed.files.map((file) => file.path);
    herald = await createTestApp();
  }, 120_000);
  afterAll(async () => {
    await herald?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('holds the built modules, their types and the browser bundle, and nothing else', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/protocol.js', 'dist/herald-bell.element.js', 'dist/herald.js']));
    expect(files.filter((file) => !/^(package\.json|dist\/[\w.-]+\.(js|d\.ts))$/.test(file))).toEqual([]);
    expect(files.filter((file) => /spec|tsbuildinfo/.test(file))).toEqual([]);
  });

  it('installs into an app and connects to Herald from Node', async () => {
    const app = join(work, 'app');
    await run('mkdir', ['-p', app]);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // No dependencies to fetch: works offline.
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app });
    await writeFile(
      join(app, 'main.js'),
      `import { connect, PublishClient } from '@herald/client';
import { defineHeraldBell } from '@herald/client/widget';
import { CloseCode } from '@herald/client/protocol';
import * as bundle from '@herald/client/browser';
if (typeof defineHeraldBell !== 'function' || typeof PublishClient !== 'function' || typeof bundle.connect !== 'function') process.exit(2);
const client = connect(process.argv[2], { getToken: () => process.argv[3], rooms: ['public:news'] });
client.on('welcome', ({ user }) => { console.log(user, CloseCode.Normal.code); client.close(); });
`,
    );
    const { stdout } = await run(process.execPath, ['main.js', herald.wsUrl, signToken({ sub: 'tarball-user' })], { cwd: app, timeout: 15_000 });
    expect(stdout.trim()).toBe('tarball-user 1000');
  }, 60_000);
});
