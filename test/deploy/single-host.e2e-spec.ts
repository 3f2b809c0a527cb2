import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseEnvironment } from '../../src/config/environment';
import { fencedBlocks } from '../support/markdown-blocks';
import { hasTool } from '../support/tools';
import { appEnvironment } from './support/app-environment';
import { repositoryRoot } from './support/kustomize.render';
import { EXIT_MARGIN_S, longestStopS } from './support/stop-time';

const directory = join(repositoryRoot, 'deploy', 'single-host');
const compose = parse(readFileSync(join(directory, 'compose.yaml'), 'utf8')) as {
  services: Record<string, { build?: string; environment?: Record<string, string>; env_file?: string; ports?: string[]; depends_on?: Record<string, { condition: string }>; stop_grace_period?: string; stop_signal?: string; healthcheck?: unknown; read_only?: boolean }>;
};
const unitText = readFileSync(join(directory, 'herald.service'), 'utf8');
/** key -> values of a systemd unit (keys repeat, e.g. Environment=). */
const unit = new Map<string, string[]>();
for (const line of unitText.split('\n')) {
  const match = /^([A-Za-z]+)=(.*)$/.exec(line);
  if (match) unit.set(match[1], [...(unit.get(match[1]) ?? []), match[2]]);
}
const variables = appEnvironment(repositoryRoot).variables;
/** The longest stop the default settings allow, which the stop timeouts must outlast. */
const stopS = longestStopS() + EXIT_MARGIN_S;
const seconds = (text: string) => Number(/^(\d+)s?$/.exec(text)?.[1] ?? Number.NaN);

/** What an operator puts in place of the example file's placeholder secret. */
const ownSecrets = { JWT_SECRET: 'kX9vQ2mZ7rT4pW1sN8bC5yH3jL6dF0gA' };

describe('single-host recipe (deploy/single-host)', () => {
  describe('compose.yaml', () => {
    const herald = compose.services.herald;

    it('runs Herald from this repository beside a Redis it waits for', () => {
      expect(existsSync(join(directory, herald.build!, 'Dockerfile'))).toBe(true);
      expect(Object.keys(compose.services).sort()).toEqual(['herald', 'redis']);
      expect(herald.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
      expect(compose.services.redis.healthcheck).toBeDefined();
      expect(new URL(herald.environment!.REDIS_URL).hostname).toBe('redis');
    });

    it('sets only variables Herald reads, valid for it, and keeps the internal port off the network', () => {
      const environment = { ...herald.environment!, ...envFile(join(directory, `${herald.env_file!}.example`)) };
      expect(Object.keys(environment).filter((name) => !variables.has(name))).toEqual([]);
      // Valid once its placeholder secret is replaced, and refused until then (NODE_ENV=production).
      expect(() => parseEnvironment(environment)).toThrow(/JWT_SECRET is an example value/);
      expect(() => parseEnvironment({ ...environment, ...ownSecrets })).not.toThrow();
      expect(herald.ports).toEqual(['3000:3000', `127.0.0.1:${environment.INTERNAL_PORT}:${environment.INTERNAL_PORT}`]);
      expect(herald.read_only).toBe(true);
    });

    it('gives the drain time to finish on stop', () => {
      expect(herald.stop_signal).toBe('SIGTERM');
      expect(seconds(herald.stop_grace_period!)).toBeGreaterThanOrEqual(stopS);
    });
  });

  describe('herald.service (systemd)', () => {
    it('passes systemd-analyze verify', () => {
      if (!hasTool('systemd-analyze')) throw new Error('systemd-analyze is not on PATH: apt-get install systemd (README, Prerequisites)');
      expect(execFileSync('systemd-analyze', ['verify', join(directory, 'herald.service')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
    });

    it('starts the built server with valid settings and lets the drain finish on stop', () => {
      expect(unit.get('ExecStart')).toEqual(['/usr/bin/node dist/main.js']);
      expect(unit.get('KillSignal')).toEqual(['SIGTERM']);
      expect(seconds(unit.get('TimeoutStopSec')![0])).toBeGreaterThanOrEqual(stopS);
      const environment = Object.fromEntries(unit.get('Environment')!.map((assignment) => assignment.split(/=(.*)/s).slice(0, 2)));
      expect(Object.keys(environment).filter((name) => !variables.has(name))).toEqual([]);
      expect(() => parseEnvironment({ ...environment, ...envFile(join(directory, 'herald.env.example')) })).toThrow(/JWT_SECRET is an example value/);
      expect(() => parseEnvironment({ ...environment, ...envFile(join(directory, 'herald.env.example')), ...ownSecrets })).not.toThrow();
    });

    it('allows the socket families the server opens: IP for clients and Redis, and netlink, which listening on every address needs', () => {
      // Fastify lists the host's interfaces (os.networkInterfaces: a netlink socket) when it
      // listens on 0.0.0.0; refused, Node throws and Herald exited at start-up, restarted every 2 s.
      expect(unit.get('RestrictAddressFamilies')![0].split(/\s+/)).toEqual(expect.arrayContaining(['AF_INET', 'AF_INET6', 'AF_NETLINK']));
    });
  });

  it("installs quietly: every dependency's install script, dev ones included, is allowed or refused in package.json", () => {
    // The recipe's `npm ci --omit=dev` runs in /opt/herald, and the image's build stage its full
    // `npm ci`, without the repository's .npmrc (loglevel=error): npm would warn of every install
    // script that allowScripts leaves undecided.
    const manifest = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> };
    const lock = JSON.parse(readFileSync(join(repositoryRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean; dev?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.filter((name) => !lock.packages[`node_modules/${name}`]?.dev).length).toBeGreaterThan(0);
    expect(withScripts.filter((name) => lock.packages[`node_modules/${name}`]?.dev).length).toBeGreaterThan(0);
    expect(withScripts.filter((name) => typeof manifest.allowScripts[name] !== 'boolean')).toEqual([]);
  });

  it('is described in docs/operations.md', () => {
    const operations = readFileSync(join(repositoryRoot, 'docs', 'operations.md'), 'utf8');
    const section = operations.slice(operations.indexOf('\n## Single host\n'));
    expect(section).toContain('deploy/single-host/compose.yaml');
    expect(section).toContain('deploy/single-host/herald.service');
  });

  it("waits, in docs/operations.md's compose recipe, for Herald to be healthy before asking it readyz", () => {
    const recipe = fencedBlocks('docs/operations.md', 'Single host').find((block) => block.code.includes('docker compose up'))!.code.split('\n');
    const up = recipe.findIndex((line) => line.startsWith('docker compose up'));
    const readyz = recipe.findIndex((line) => line.includes('/readyz'));
    expect(up).toBeGreaterThanOrEqual(0);
    expect(readyz).toBeGreaterThan(up);
    expect(recipe[up].split(/\s+/)).toEqual(expect.arrayContaining(['-d', '--wait']));
    // --wait waits for a health check: compose's own for herald, or the image's.
    const dockerfile = readFileSync(join(directory, compose.services.herald.build!, 'Dockerfile'), 'utf8');
    expect(compose.services.herald.healthcheck !== undefined || /^HEALTHCHECK (?!NONE)/m.test(dockerfile)).toBe(true);
  });
});

function envFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
}
