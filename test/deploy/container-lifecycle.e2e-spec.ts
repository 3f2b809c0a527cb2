import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { containersOf, deployDirectory, renderKustomization, repositoryRoot } from './support/kustomize.render';
import { allQueries } from './support/observability.queries';
import { appMetricFamilies, exposedFamilies, PROMISED_METRICS, promisedFamilies } from './support/promql.metrics';

/**
 * Starts dist/main.js the way the image does: `node dist/main.js` in a read-only working
 * directory holding what the image's runtime stage holds, with the base ConfigMap's environment
 * and a Secret's JWT_SECRET, as an unprivileged user when the suite runs as root (root ignores
 * file modes, so only another user makes the directory really read-only).
 */

const JWT_SECRET = 'lifecycle-test-secret-0123456789abcdef';
/** The image's user. */
const IMAGE_USER = { uid: 1000, gid: 1000 };
/** Shorter than the ConfigMap's drain, to keep the suite fast; the grace-period check covers the real values. */
const DRAIN = { DRAIN_DELAY_MS: '1000', DRAIN_SPREAD_MS: '500' };

const objects = renderKustomization(join(deployDirectory, 'k8s', 'base'));
const config = (objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'herald-config') as any).data as Record<string, string>;
const [container] = containersOf(objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'herald')!);

/** Whether `uid` may walk down to `path`: every ancestor directory is searchable by others or owned by it. */
function traversableBy(uid: number, path: string): boolean {
  for (let directory = dirname(path); ; directory = dirname(directory)) {
    const { mode, uid: owner } = statSync(directory);
    if (owner !== uid && (mode & 0o001) === 0) return false;
    if (directory === dirname(directory)) return true;
  }
}

/**
 * Root ignores file modes, so as root the app runs as the image's user, which the read-only
 * directory really binds. That user must be able to reach node and node_modules; a checkout
 * under a private home directory is not, and then the app runs as root with a warning.
 */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const reachable = [process.execPath, join(repositoryRoot, 'node_modules', 'x'), join(tmpdir(), 'x')].every((path) => traversableBy(IMAGE_USER.uid, path));
  if (reachable) return IMAGE_USER;
  console.warn(`uid ${IMAGE_USER.uid} cannot reach node or node_modules here: running as root, so the read-only directory is not enforced`);
  return {};
}

/** The runtime stage's /app: package.json, dist/, client/package.json, client/dist/, node_modules. */
function imageLikeDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'herald-image-'));
  cpSync(join(repositoryRoot, 'package.json'), join(directory, 'package.json'));
  cpSync(join(repositoryRoot, 'dist'), join(directory, 'dist'), { recursive: true });
  mkdirSync(join(directory, 'client'));
  cpSync(join(repositoryRoot, 'client', 'package.json'), join(directory, 'client', 'package.json'));
  cpSync(join(repositoryRoot, 'client', 'dist'), join(directory, 'client', 'dist'), { recursive: true });
  // Copying node_modules would take seconds; a link resolves the same packages. Node follows
  // it to the real path, so @herald/client resolves to the checkout's client/ (same build).
  symlinkSync(join(repositoryRoot, 'node_modules'), join(directory, 'node_modules'));
  makeReadOnly(directory);
  return directory;
}

function makeReadOnly(path: string): void {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats || !stats.isDirectory()) {
    if (stats) chmodSync(path, 0o444);
    return;
  }
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (!entry.isSymbolicLink()) makeReadOnly(join(path, entry.name));
  }
  chmodSync(path, 0o555);
}

function makeWritable(path: string): void {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats?.isDirectory()) return;
  chmodSync(path, 0o755);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) makeWritable(join(path, entry.name));
    else if (entry.isFile()) chmodSync(join(path, entry.name), 0o644);
  }
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: response.status, body: await response.text() };
}

describe('the built app, started as the image starts it', () => {
  let directory: string;
  let child: ChildProcess;
  let port: number;
  let internalPort: number;
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    if (!existsSync(join(repositoryRoot, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
    directory = imageLikeDirectory();
    [port, internalPort] = [await freePort(), await freePort()];
    const env = { PATH: process.env.PATH, ...config, ...DRAIN, JWT_SECRET, PORT: String(port), INTERNAL_PORT: String(internalPort) };
    child = spawn(process.execPath, ['dist/main.js'], { cwd: directory, env, stdio: ['ignore', 'pipe', 'pipe'], ...runAs() });
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  });

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (directory) {
      makeWritable(directory);
      rmSync(directory, { recursive: true, force: true });
    }
  });

  function output(): string {
    return `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  }

  it('turns ready on the readiness probe path', async () => {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}${output()}`);
        expect((await get(port, container.readinessProbe.httpGet.path)).status).toBe(200);
      },
      // Most of the test's 30 s, as spawnServer allows: on a CI machine busy with other work,
      // loading the built server alone has taken more than 10 s.
      25_000,
      100,
    );
    expect((await get(port, container.livenessProbe.httpGet.path)).status).toBe(200);
    expect((await get(port, container.startupProbe.httpGet.path)).status).toBe(200);
  });

  it('exports on the internal port every metric the alerts and dashboard query', async () => {
    const { status, body } = await get(internalPort, '/metrics');
    expect(status).toBe(200);
    const exposed = exposedFamilies(body);
    const histograms = new Set([...exposed].filter(([, type]) => type === 'histogram').map(([name]) => name));
    const queried = new Set(allQueries().flatMap(({ expr }) => appMetricFamilies(expr, histograms)));
    expect([...queried].filter((family) => !exposed.has(family))).toEqual([]);
    expect([...promisedFamilies()].filter((family) => !exposed.has(family))).toEqual([]);
    for (const family of PROMISED_METRICS.histograms) expect(exposed.get(family)).toBe('histogram');
    for (const family of PROMISED_METRICS.counters) expect(exposed.get(family)).toBe('counter');
  });

  it('logs JSON lines in production, never the signing secret', () => {
    const lines = stdout.split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(stdout + stderr).not.toContain(JWT_SECRET);
  });

  it('turns unready at once on SIGTERM, then drains and exits 0', async () => {
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await eventually(async () => expect((await get(port, container.readinessProbe.httpGet.path)).status).toBe(503), 1000, 20);
    // Still answering during DRAIN_DELAY_MS, so the kubelet sees 503 rather than a refused connection.
    expect(Date.now() - signalledAt).toBeLessThan(Number(DRAIN.DRAIN_DELAY_MS));
    const { code, signal } = await exit;
    expect({ code, signal, output: code === 0 ? '' : output() }).toEqual({ code: 0, signal: null, output: '' });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(Number(DRAIN.DRAIN_DELAY_MS));
  });
});
