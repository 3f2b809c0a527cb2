import { ChildProcess, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from './free-port';
import { redisCli, spawnRedisChild } from './redis-process';
import { join } from 'node:path';

export interface RedisServer {
  /** `redis://` (or `rediss://` with `tls`) URL of the private server, with the password when one was set. */
  url: string;
  /** With `tls`: the self-signed certificate clients must trust (PEM file). */
  caFile: string | undefined;
  port: number;
  /** Graceful stop (SIGTERM) of this server's process only. */
  stop(): Promise<void>;
  /** Crash (SIGKILL): clients see the connection drop with no goodbye. */
  kill(): Promise<void>;
  /**
   * Starts the server again on the same port, after a crash (SIGKILL): empty, or with
   * `snapshots` from the last SAVE, as a Redis restarted from an older RDB file is.
   */
  restart(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): connections stay open and nothing is answered, as with a
   * Redis stuck in a long command or a network that drops packets. Always `resume()` after.
   */
  pause(): void;
  /** Thaws a paused server (SIGCONT); harmless when it is not paused. */
  resume(): void;
  /** Sets one parameter at run time (CONFIG SET), as an operator would: `maxmemory` to make it refuse writes. */
  configSet(parameter: string, value: string): Promise<void>;
}

export interface RedisServerOptions {
  /** Sets `requirepass`, so the URL carries credentials. */
  password?: string;
  /** Serves TLS only, with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
  /**
   * Keeps what a SAVE command wrote (in a private directory, removed on stop), loaded again by
   * restart(); nothing is saved unless a test asks. Otherwise every restart starts empty.
   */
  snapshots?: boolean;
}

const STOP_TIMEOUT_MS = 5000;


/**
 * Starts a private, throwaway `redis-server` on a free port: no persistence, bound to loopback.
 * It never touches a shared Redis; it is stopped by its own PID.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const certificate = options.tls ? selfSignedCertificate() : undefined;
  const directory = options.snapshots ? mkdtempSync(join(tmpdir(), 'redis-snapshots-')) : tmpdir();
  let child = await spawnServer(port, options, certificate, directory);
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    // A paused server would hold a SIGTERM until continued.
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    await withTimeout(exited, STOP_TIMEOUT_MS, `redis-server on port ${port} did not exit after ${signal}`);
  };

  return {
    url: `${certificate ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    caFile: certificate?.certFile,
    async stop() {
      await terminate('SIGTERM');
      certificate?.remove();
      if (options.snapshots) rmSync(directory, { recursive: true, force: true });
    },
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGKILL');
      child = await spawnServer(port, options, certificate, directory);
    },
    pause() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGSTOP');
    },
    resume() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    },
    async configSet(parameter, value) {
      const reply = await redisCli(port, ['CONFIG', 'SET', parameter, value], options.password, certificate?.certFile);
      // redis-cli prints a refused command's error and still exits 0.
      if (reply.trim() !== 'OK') throw new Error(`CONFIG SET ${parameter} ${value} on port ${port}: ${reply.trim()}`);
    },
  };
}

export interface Certificate {
  certFile: string;
  keyFile: string;
  remove(): void;
}

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI in a private directory. */
export function selfSignedCertificate(): Certificate {
  const directory = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { certFile, keyFile, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

async function spawnServer(port: number, options: RedisServerOptions, certificate: Certificate | undefined, directory: string): Promise<ChildProcess> {
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory];
  if (certificate) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', certificate.certFile, '--tls-key-file', certificate.keyFile);
    args.push('--tls-ca-cert-file', certificate.certFile, '--tls-auth-clients', 'no');
  } else {
    args.push('--port', String(port));
  }
  if (options.password !== undefined) args.push('--requirepass', options.password);
  return spawnRedisChild(args, port, certificate !== undefined);
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
