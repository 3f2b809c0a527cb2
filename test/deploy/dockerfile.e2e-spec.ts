import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { spawnServer } from '../support/spawned-server';
import { repositoryRoot } from './support/kustomize.render';

interface Instruction {
  keyword: string;
  argument: string;
  line: number;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

const dockerfile = readFileSync(join(repositoryRoot, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(repositoryRoot, '.dockerignore'), 'utf8');

/** Instructions with line continuations joined; comments and parser directives dropped. */
function instructions(source: string): Instruction[] {
  const result: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  source.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    const text = line.endsWith('\\') ? line.slice(0, -1) : line;
    pending = pending ? { text: `${pending.text} ${text}`, line: pending.line } : { text, line: index + 1 };
    if (line.endsWith('\\')) return;
    const [keyword, ...rest] = pending.text.split(/\s+/);
    result.push({ keyword: keyword.toUpperCase(), argument: rest.join(' '), line: pending.line });
    pending = undefined;
  });
  return result;
}

function stages(all: Instruction[]): Stage[] {
  const args = new Map<string, string>();
  const result: Stage[] = [];
  for (const instruction of all) {
    if (instruction.keyword === 'ARG' && result.length === 0) {
      const [name, value = ''] = instruction.argument.split('=');
      args.set(name, value);
    } else if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.argument.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const resolved = image.replace(/\$\{?(\w+)\}?/g, (_match, arg: string) => args.get(arg) ?? '');
      result.push({ image: resolved, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

/** Docker's .dockerignore rules: globs matched against a path or any of its parents, last match wins. */
function inBuildContext(path: string): boolean {
  let included = true;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const expression = new RegExp(
      `^${pattern
        .split('**')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*')}$`,
    );
    const segments = path.split('/');
    const candidates = segments.map((_segment, index) => segments.slice(0, index + 1).join('/'));
    if (candidates.some((candidate) => expression.test(candidate))) included = negated;
  }
  return included;
}

/** Packages the compiled server loads (`require('x')` in dist/, by package name). */
function packagesRequiredBy(directory: string): Set<string> {
  const packages = new Set<string>();
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const source = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    for (const [, specifier] of source.matchAll(/\brequire\(["']([^"'.][^"']*)["']\)/g)) {
      const parts = specifier.split('/');
      packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
    }
  }
  return packages;
}

const parsed = stages(instructions(dockerfile));
const build = parsed[0];
const runtime = parsed.at(-1)!;
const runCommands = (stage: Stage) => stage.instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.argument).join(' && ');

describe('Dockerfile', () => {
  it('passes the dockerfile-utils linter with every check as an error', () => {
    const severity = ValidationSeverity.ERROR;
    const diagnostics = validate(dockerfile, {
      deprecatedMaintainer: severity,
      directiveCasing: severity,
      emptyContinuationLine: severity,
      instructionCasing: severity,
      instructionCmdMultiple: severity,
      instructionEntrypointMultiple: severity,
      instructionHealthcheckMultiple: severity,
      instructionJSONInSingleQuotes: severity,
      instructionWorkdirRelative: severity,
    });
    expect(diagnostics.map((diagnostic) => `line ${diagnostic.range.start.line + 1}: ${diagnostic.message}`)).toEqual([]);
  });

  it('builds and runs on Node 24 in separate stages', () => {
    expect(parsed.length).toBeGreaterThanOrEqual(2);
    for (const stage of parsed) expect(stage.image).toMatch(/^node:24([.-]|$)/);
  });

  it('installs from the lockfile, builds, and prunes to production dependencies', () => {
    const commands = runCommands(build);
    expect(commands).toMatch(/npm ci\b/);
    expect(commands).toMatch(/npm run build\b/);
    expect(commands).toMatch(/npm prune --omit=dev\b/);
    expect(commands.indexOf('npm run build')).toBeLessThan(commands.indexOf('npm prune'));
  });

  it('ships the built server and the @herald/client workspace it imports at run time', () => {
    const copied = runtime.instructions
      .filter((instruction) => instruction.keyword === 'COPY' && instruction.argument.includes(`--from=${build.name}`))
      .map((instruction) => instruction.argument.split(/\s+/).filter((word) => !word.startsWith('--'))[0]);
    expect(copied).toEqual(
      expect.arrayContaining(['/app/package.json', '/app/node_modules', '/app/dist', '/app/client/package.json', '/app/client/dist']),
    );
    expect(runCommands(runtime)).toBe('');
  });

  it("probes /healthz where the server listens, HOST included", async () => {
    const healthcheck = runtime.instructions.find((instruction) => instruction.keyword === 'HEALTHCHECK')!;
    const [node, flag, script] = JSON.parse(healthcheck.argument.slice(healthcheck.argument.indexOf('CMD') + 3)) as string[];
    expect([node, flag]).toEqual(['node', '-e']);
    const probe = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => execFile(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, ...env } }, (error) => resolve(error ? (error.code as number) : 0)));
    // Bound to another loopback address than the 127.0.0.1 a probe of 0.0.0.0 would use.
    const server = await spawnServer({ HOST: '127.0.0.2' }, { waitReady: false });
    try {
      await eventually(() => expect(server.output()).toContain('Listening on'), 15_000);
      expect(await probe({ HOST: '127.0.0.2', PORT: String(server.port) })).toBe(0);
      expect(await probe({ HOST: '127.0.0.2', PORT: String(await freePort()) })).toBe(1);
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });

  it('runs node dist/main.js in exec form, as a numeric non-root user', () => {
    const keywords = (keyword: string) => runtime.instructions.filter((instruction) => instruction.keyword === keyword);
    expect(keywords('ENTRYPOINT')).toEqual([]);
    expect(JSON.parse(keywords('CMD').at(-1)!.argument)).toEqual(['node', 'dist/main.js']);
    const user = keywords('USER').at(-1)!.argument;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(keywords('ENV').map((instruction) => instruction.argument)).toContain('NODE_ENV=production');
  });

  it('sends the build everything it copies, and nothing secret or generated', () => {
    const sources = build.instructions
      .filter((instruction) => instruction.keyword === 'COPY' && !instruction.argument.includes('--from'))
      .flatMap((instruction) => instruction.argument.split(/\s+/).filter((word) => !word.startsWith('--')).slice(0, -1));
    expect(sources.filter((source) => !inBuildContext(source))).toEqual([]);
    for (const path of ['src/main.ts', 'client/src/protocol.ts', 'package-lock.json', 'tsconfig.json']) {
      expect({ path, included: inBuildContext(path) }).toEqual({ path, included: true });
    }
    for (const path of ['.env', '.git/HEAD', 'node_modules/ws/index.js', 'dist/main.js', 'client/dist/index.js', 'test/deploy/x.e2e-spec.ts', 'src/config/environment.spec.ts']) {
      expect({ path, included: inBuildContext(path) }).toEqual({ path, included: false });
    }
  });

  it('needs no dev dependency at run time, since the image prunes them', () => {
    const dist = join(repositoryRoot, 'dist');
    if (!existsSync(join(dist, 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
    const { dependencies } = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8'));
    const builtins = new Set(builtinModules);
    const missing = [...packagesRequiredBy(dist)].filter((name) => !name.startsWith('node:') && !builtins.has(name) && !(name in dependencies));
    expect(missing).toEqual([]);
  });
});
