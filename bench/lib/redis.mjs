import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort, waitFor } from './processes.mjs';

/**
 * A private, throwaway redis-server on a free port: no persistence, stopped by its PID.
 * Never the shared one on 6379.
 */
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => process.stderr.write(`redis-server failed to start: ${error.message}\n`));
  await waitFor(`redis-server on ${port}`, () => ping(port), 10_000);
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, 'SIGTERM');
      await exited;
    },
  };
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}
