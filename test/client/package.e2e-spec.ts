import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fencedBlocks } from '../support/markdown-blocks';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const clientDir = join(root, 'client');
const tsc = require.resolve('typescript/bin/tsc');

/** Runs tsc in `dir` (its tsconfig.json), with this repository's Node types; rejects with tsc's report when it finds errors. */
async function typecheck(dir: string): Promise<void> {
  try {
    await run(process.execPath, [tsc, '-p', dir], { cwd: dir });
  } catch (error) {
    throw new Error(`tsc failed:\n${(error as { stdout?: string }).stdout ?? error}`);
  }
}

/** The compiler options every scratch project shares: Node's types from this repository, as an app has them from @types/node. */
const COMMON_OPTIONS = { target: 'ES2022', strict: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] };

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

  it('declares, for resolvers that ignore exports, the same types as exports for every entry point', () => {
    const manifest = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as {
      types: string;
      typesVersions: Record<string, Record<string, string[]>>;
      exports: Record<string, string | { types?: string }>;
    };
    const fromExports = Object.entries(manifest.exports)
      .filter((entry): entry is [string, { types: string }] => typeof entry[1] === 'object' && entry[1].types !== undefined)
      .map(([path, { types }]) => [path, types]);
    const fromTypesVersions = [['.', manifest.types], ...Object.entries(manifest.typesVersions['*']).map(([path, [types]]) => [`./${path}`, types])];
    expect(Object.fromEntries(fromTypesVersions)).toEqual(Object.fromEntries(fromExports));
  });

  it('resolves its types in a CommonJS TypeScript project that ignores exports (module commonjs, as in a classic NestJS tsconfig) and require()s it', async () => {
    const app = join(work, 'commonjs-app');
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'commonjs-app', private: true }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app });
    // node10 is what "module": "commonjs" resolves with before TypeScript 6 (which deprecates it).
    const compilerOptions = { ...COMMON_OPTIONS, module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '6.0', esModuleInterop: true, outDir: 'out', rootDir: '.' };
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
    await writeFile(
      join(app, 'main.ts'),
      `import { HeraldNetworkError, PublishClient } from '@herald/client';
import { CloseCode, type PublishResponse } from '@herald/client/protocol';
import { signWebhook, verifyWebhook } from '@herald/client/webhooks';
import type { defineHeraldBell } from '@herald/client/widget';
import type { connect } from '@herald/client/browser';

// Fails to compile if a module resolved to nothing (any): the types are really there.
// @ts-expect-error a close code is a number
const wrong: string = CloseCode.Normal.code;
type Entry = typeof defineHeraldBell | typeof connect;
const headers = signWebhook('secret', '{}');
if (!verifyWebhook('secret', headers, '{}') || !(new HeraldNetworkError('x') instanceof Error)) process.exit(2);
new PublishClient({ baseUrl: process.argv[2], token: process.argv[3] })
  .publish({ users: ['commonjs-user'], type: 'test', payload: {} })
  .then((answer: PublishResponse) => console.log(typeof require, answer.targets, wrong === undefined));
export type { Entry };
`,
    );
    await typecheck(app);
    const { stdout } = await run(process.execPath, ['out/main.js', herald.url, publisherToken()], { cwd: app, timeout: 15_000 });
    expect(stdout.trim()).toBe('function 1 false');
  }, 60_000);

  it("typechecks docs/client.md's verifyWebhook snippet as written, against the installed package", async () => {
    const [snippet] = fencedBlocks('docs/client.md', 'API').filter((block) => block.info === 'ts' && block.code.includes('verifyWebhook('));
    const app = join(work, 'webhook-app');
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'webhook-app', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app });
    // No registry here: the part of @types/express (5.x) the snippet uses, as it declares it.
    await writeFile(
      join(app, 'express.d.ts'),
      `declare module 'express' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  interface Request extends IncomingMessage { body: any }
  interface Response extends ServerResponse { sendStatus(code: number): this }
  type RequestHandler = (req: Request, res: Response, next: (error?: unknown) => void) => void | Promise<void>;
  interface Express {
    post(path: string, ...handlers: RequestHandler[]): this;
    listen(port: number, callback?: () => void): import('node:http').Server;
  }
  interface ExpressModule {
    (): Express;
    raw(options?: { type?: string }): RequestHandler;
  }
  const express: ExpressModule;
  export default express;
}
`,
    );
    await writeFile(join(app, 'server.ts'), snippet.code);
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...COMMON_OPTIONS, module: 'nodenext', noEmit: true }, files: ['express.d.ts', 'server.ts'] }));
    await typecheck(app);
  }, 60_000);
});
