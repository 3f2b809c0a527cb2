import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from './free-port';
import { TEST_DEFAULTS } from './test-app';

export interface SpawnedServer {
  child: ChildProcess;
  port: number;
  url: string;
  wsUrl: string;
  output(): string;
  /** Resolves with the exit code (or signal) of the process. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built server (`node dist/main.js`) the way the image does, with the given env. */
export async function spawnServer(env: Record<string, string>, options: { waitReady?: boolean; cwd?: string } = {}): Promise<SpawnedServer> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const root = join(__dirname, '..', '..');
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH, ...TEST_DEFAULTS, LOG_LEVEL: 'log', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const server: SpawnedServer = { child, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, output: () => output, exited };
  if (options.waitReady !== false) {
    // Most of a test's 30 s: on a machine busy with other work, loading the built server alone
    // has taken more than 15 s (a clean-clone CI run saw no output at all by then).
    const deadline = Date.now() + 25_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Server exited early:\n${output}`);
      try {
        if ((await fetch(`${server.url}/readyz`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Server not ready:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return server;
}
