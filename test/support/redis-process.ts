import { ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Socket, createConnection, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';

/**
 * One private `redis-server` process (a cluster node, a replica or a sentinel) for the
 * multi-node harnesses in redis-cluster.ts and redis-sentinel.ts. Stopped by its own PID;
 * every process still running when the test process exits is killed.
 */
export interface RedisProcess {
  readonly port: number;
  /** False once the process exited (stopped, killed or crashed). */
  readonly running: boolean;
  /** Crash (SIGKILL): peers and clients see the connection drop with no goodbye. */
  kill(): Promise<void>;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** SIGSTOP: the process stops answering, its connections stay open (a paused VM, a long GC). */
  freeze(): void;
  /** SIGCONT after freeze. */
  thaw(): void;
  /**
   * Starts the process again with the same arguments, as an orchestrator restarts a crashed pod:
   * a Cluster node finds its nodes.conf and rejoins (as a replica, once failed over).
   */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export const execFileAsync = promisify(execFile);

/** Starts `redis-server` with these arguments and waits until it answers on `port` (over TLS with `tls`). */
export async function spawnRedisProcess(args: string[], port: number, tls = false): Promise<RedisProcess> {
  let child = await spawnRedisChild(args, port, tls);
  const alive = () => child.exitCode === null && child.signalCode === null;
  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (!alive()) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis-server on port ${port} did not exit after ${signal}`)), STOP_TIMEOUT_MS);
    });
    try {
      await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    port,
    get running() {
      return alive();
    },
    kill: () => terminate('SIGKILL'),
    stop: async () => {
      // A frozen process would not act on SIGTERM until thawed.
      if (alive()) child.kill('SIGCONT');
      await terminate('SIGTERM');
    },
    freeze: () => void (alive() && child.kill('SIGSTOP')),
    thaw: () => void (alive() && child.kill('SIGCONT')),
    async restart() {
      await terminate('SIGKILL');
      child = await spawnRedisChild(args, port, tls);
    },
  };
}

/**
 * Spawns `redis-server` with `args` and resolves once it answers on `port`; killed with the
 * test process if still running. The one way every harness starts a server.
 */
export async function spawnRedisChild(args: string[], port: number, tls: boolean): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === 'ENOENT' ? 'redis-server is not on PATH: apt-get install redis-server (README, Prerequisites)' : `could not start redis-server: ${error.message}`)),
    );
    child.once('exit', (code, signal) => reject(new Error(`redis-server on port ${port} exited early (${code ?? signal}):\n${output}`)));
  });
  failed.catch(() => undefined); // Observed through the race below; after readiness an exit is expected (stop/kill).

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await Promise.race([answersPing(port, tls), failed]))) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  return child;
}

/** True once something answers PING on the port (PONG, or NOAUTH when a password is required). */
function answersPing(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => socket.write('PING\r\n'))
      : createConnection({ port, host: '127.0.0.1' }, () => socket.write('PING\r\n'));
    const done = (ready: boolean) => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (reply) => {
      const text = reply.toString();
      done(text.startsWith('+PONG') || text.includes('NOAUTH'));
    });
  });
}

/**
 * `count` free loopback ports whose cluster bus ports (port + 10000) are free too: Redis
 * Cluster nodes listen on both. Both below Linux's ephemeral range (32768 and up): a bus port in
 * it was taken in CI, between this check and the node's start, by the local end of some other
 * suite's outgoing connection.
 */
export async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 10_000 + Math.floor(Math.random() * (EPHEMERAL_PORTS_START - 20_000));
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

/** Where Linux's default ephemeral port range (net.ipv4.ip_local_port_range) begins. */
const EPHEMERAL_PORTS_START = 32_768;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Runs one `redis-cli` command against 127.0.0.1:port and returns its output (over TLS when given the CA file). */
export async function redisCli(port: number, args: string[], password?: string, caFile?: string): Promise<string> {
  const auth = password === undefined ? [] : ['--no-auth-warning', '-a', password];
  const tls = caFile === undefined ? [] : ['--tls', '--cacert', caFile];
  const { stdout } = await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...tls, ...auth, ...args], { timeout: 10_000 });
  return stdout;
}
