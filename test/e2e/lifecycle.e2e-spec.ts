import { once } from 'node:events';
import { Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { eventually } from '../support/eventually';
import { http } from '../support/http';
import { spawnServer } from '../support/spawned-server';
import { publisherToken, signToken, TEST_JWT_SECRET } from '../support/tokens';
import { connectClient, openClient } from '../support/ws-client';

describe('lifecycle of the built server', () => {
  it('drains on SIGTERM: readyz 503 at once, new connections refused, clients closed with 1012, exit 0', async () => {
    const server = await spawnServer({ DRAIN_DELAY_MS: '400', DRAIN_SPREAD_MS: '200' });
    // One client passes its token in the query string, which must not reach the log either.
    const tokens = Array.from({ length: 5 }, (_, i) => signToken({ sub: `u${i}` }));
    const clients = await Promise.all(tokens.map((token, i) => connectClient(server.wsUrl, token, { via: i === 0 ? 'query' : 'subprotocol' })));
    const closedAt: number[] = [];
    for (const client of clients) void client.closed.then(() => closedAt.push(Date.now()));
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { message: string }).message).toMatch(/drain/i);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const late = await openClient(server.wsUrl, signToken({ sub: 'late' }));
    expect(await late.closed).toEqual({ code: 1012, reason: 'service_restart' });
    const closes = await Promise.all(clients.map((client) => client.closed));
    expect(closes).toEqual(Array(5).fill({ code: 1012, reason: 'service_restart' }));
    // Nobody before DRAIN_DELAY_MS (less a little for timer granularity), and spread out, not all at once.
    expect(Math.min(...closedAt) - signalledAt).toBeGreaterThanOrEqual(380);
    expect(Math.max(...closedAt) - Math.min(...closedAt)).toBeGreaterThanOrEqual(100);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // Tokens never reach the log.
    expect(server.output()).not.toContain(TEST_JWT_SECRET);
    for (const token of tokens) expect(server.output()).not.toContain(token.split('.')[2]);
    expect(server.output()).not.toContain('token=');
  });

  it('keeps draining on a second SIGTERM (or a Ctrl-C after it): clients still get 1012, exit 0', async () => {
    const server = await spawnServer({ DRAIN_DELAY_MS: '300', DRAIN_SPREAD_MS: '0' });
    const client = await connectClient(server.wsUrl, signToken({ sub: 'patient' }));
    server.child.kill('SIGTERM');
    await eventually(async () => expect((await fetch(`${server.url}/readyz`)).status).toBe(503));
    server.child.kill('SIGTERM');
    server.child.kill('SIGINT');
    expect(await client.closed).toEqual({ code: 1012, reason: 'service_restart' });
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('drains a SIGTERM that came while it was starting, once started, and exits 0', async () => {
    const server = await spawnServer({ DRAIN_DELAY_MS: '0' }, { waitReady: false });
    // Nest's first line: main() runs, and Herald is not listening yet.
    await eventually(() => expect(server.output()).toContain('Starting Nest application'), 15_000);
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('Signal received');
  });

  // Sentinel's start asks its sentinels with clients close() destroys at once (no graceful close).
  it.each([
    ['REDIS_URL', (address: string) => ({ REDIS_URL: `redis://${address}` })],
    ['REDIS_CLUSTER_NODES', (address: string) => ({ REDIS_CLUSTER_NODES: `redis://${address}` })],
  ])('stops with exit 0 on a SIGTERM while it waits for a Redis that never answers (%s), without waiting out the start', async (_mode, redisEnv) => {
    // Takes connections and never answers: each start-up try would wait a minute for it.
    const connections: Socket[] = [];
    const silent = createServer((socket) => connections.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const redisPort = (silent.address() as AddressInfo).port;
      const server = await spawnServer({ ...redisEnv(`127.0.0.1:${redisPort}`), REDIS_COMMAND_TIMEOUT_MS: '60000' }, { waitReady: false });
      await eventually(() => expect(connections.length).toBeGreaterThan(0), 20_000);
      server.child.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.output()).toContain('Stopped while starting');
      expect(server.output()).not.toContain('Herald cannot start');
    } finally {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('drains a SIGTERM that came while its modules were still loading, and exits 0', async () => {
    // NODE_DEBUG=esm reports where main.js hands over to the modules, its signal handlers set.
    const server = await spawnServer({ DRAIN_DELAY_MS: '0', NODE_DEBUG: 'esm' }, { waitReady: false });
    await eventually(() => expect(server.output()).toContain('herald.process.js'), 15_000, 5);
    // Loading Nest and the modules takes far longer than that: none has run yet.
    expect(server.output()).not.toContain('Starting Nest application');
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('Signal received');
  });

  it('exits after the drain though a client holds a connection with half a request sent, and asks keep-alive clients to close meanwhile', async () => {
    const server = await spawnServer({ DRAIN_DELAY_MS: '2500', DRAIN_SPREAD_MS: '0', CLOSE_TIMEOUT_MS: '500', ALLOWED_ORIGINS: 'https://app.example.com' });
    const openSocket = async () => {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    };
    const stuck = await openSocket();
    stuck.write('POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n');
    const stuckClosed = once(stuck, 'close');
    // A publish under way as the drain begins: its headers are in, its body not yet.
    const body = JSON.stringify({ rooms: ['public:drain'], type: 't', payload: {} });
    const slow = await openSocket();
    let answer = '';
    slow.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    slow.write(`POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nAuthorization: Bearer ${publisherToken()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 5)}`);
    server.child.kill('SIGTERM');
    await eventually(async () => expect((await fetch(`${server.url}/readyz`)).status).toBe(503));
    // A publisher's keep-alive connection would be cut when the pod exits: every answer tells it
    // to close it now, those given before any route runs and the one to a request under way too.
    expect((await http('GET', `${server.url}/healthz`)).headers.get('connection')).toBe('close');
    const preflight = await fetch(`${server.url}/v1/inbox`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
    expect([preflight.status, preflight.headers.get('connection')]).toEqual([204, 'close']);
    expect((await http('GET', `${server.url}/%zz`)).headers.get('connection')).toBe('close');
    slow.write(body.slice(5));
    await eventually(() => expect(answer).toMatch(/^HTTP\/1\.1 202[^]*\r\nconnection: close\r\n/i));
    expect(await server.exited).toEqual({ code: 0, signal: null });
    await stuckClosed;
  });

  it('stops at once on Ctrl-C (SIGINT) with no connection open, without the drain delay', async () => {
    // A delay longer than the test's timeout: only skipping it lets the process exit in time.
    const server = await spawnServer({ DRAIN_DELAY_MS: '600000', NODE_ENV: 'development' });
    server.child.kill('SIGINT');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('No connections: stopping without the drain delay');
  });

  it('still waits the drain delay on SIGINT while a client is connected', async () => {
    const server = await spawnServer({ DRAIN_DELAY_MS: '300', DRAIN_SPREAD_MS: '0' });
    const client = await connectClient(server.wsUrl, signToken({ sub: 'stays' }));
    const signalledAt = Date.now();
    server.child.kill('SIGINT');
    expect(await client.closed).toEqual({ code: 1012, reason: 'service_restart' });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(280);
    expect((await server.exited).code).toBe(0);
  });

  it('says which port is taken and how to choose another, with exit code 1', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const taken = (holder.address() as AddressInfo).port;
      // The public port binds first, so INTERNAL_PORT is never tried; the example is neither port,
      // and names no command (Herald may run from start:prod, systemd or an image).
      const server = await spawnServer({ PORT: String(taken), INTERNAL_PORT: String(taken + 1) }, { waitReady: false });
      expect((await server.exited).code).toBe(1);
      expect(server.output()).toContain(`Herald cannot start. Port ${taken} is already in use: set PORT to a free port, e.g. PORT=${taken + 2}\n`);
      // The internal port taken: that setting named.
      const internal = await spawnServer({ PORT: '0', INTERNAL_PORT: String(taken) }, { waitReady: false });
      expect((await internal.exited).code).toBe(1);
      expect(internal.output()).toContain(`Herald cannot start. Port ${taken} is already in use: set INTERNAL_PORT to a free port, e.g. INTERNAL_PORT=${taken + 1}\n`);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('says HOST is not an address of this machine, with exit code 1', async () => {
    // TEST-NET-1 (RFC 5737): never an address of this machine.
    const server = await spawnServer({ HOST: '192.0.2.1', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain('Herald cannot start. HOST 192.0.2.1 is not an address of this machine: set HOST');
  });

  it('says HOST does not resolve, with exit code 1 and no stack trace', async () => {
    // .invalid (RFC 2606) never resolves.
    const server = await spawnServer({ HOST: 'nowhere.invalid', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain('Herald cannot start. HOST nowhere.invalid does not resolve to an address: set HOST');
    expect(server.output()).not.toMatch(/\n\s+at /);
  });

  it('refuses to start on a bad variable, naming it, with exit code 1', async () => {
    const server = await spawnServer({ HEARTBEAT_MS: 'soon', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toContain('HEARTBEAT_MS');
  });

  it('refuses to start in production without a JWT key', async () => {
    const server = await spawnServer({ NODE_ENV: 'production', JWT_SECRET: '', PORT: '0' }, { waitReady: false });
    expect((await server.exited).code).toBe(1);
    expect(server.output()).toMatch(/JWT_SECRET or JWT_PUBLIC_KEY/);
  });

  it('refuses to start in production on a bad variable with one JSON line on stderr, as the JSON logger writes a fatal one', async () => {
    const server = await spawnServer({ NODE_ENV: 'production', HEARTBEAT_MS: 'soon', PORT: '0' }, { waitReady: false });
    const stderr = collected(server.child.stderr!);
    expect((await server.exited).code).toBe(1);
    const fatal = jsonLines(stderr()).at(-1);
    expect(fatal).toEqual({ level: 'fatal', pid: server.child.pid, timestamp: expect.any(Number), context: 'Herald', message: expect.stringContaining('Herald cannot start. Invalid configuration:') });
    expect(fatal!.message).toContain('HEARTBEAT_MS');
    // Every line, on either stream, is one JSON object.
    jsonLines(server.output());
  });

  it('says in one JSON line, in production, which port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const taken = (holder.address() as AddressInfo).port;
      const server = await spawnServer({ NODE_ENV: 'production', PORT: String(taken) }, { waitReady: false });
      const stderr = collected(server.child.stderr!);
      expect((await server.exited).code).toBe(1);
      expect(jsonLines(stderr()).at(-1)).toMatchObject({ level: 'fatal', context: 'Herald', message: `Herald cannot start. Port ${taken} is already in use: set PORT to a free port, e.g. PORT=${taken + 1}` });
      // Nest's own lines before it (the modules started) are JSON too.
      expect(jsonLines(server.output()).length).toBeGreaterThan(1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('logs JSON in production', async () => {
    const server = await spawnServer({ NODE_ENV: 'production' });
    server.child.kill('SIGTERM');
    await server.exited;
    const lines = server.output().trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    // With no Redis setting (a Secret without REDIS_URL, a misspelt name), pods would share nothing.
    expect(lines.map((line) => JSON.parse(line) as { level: string; message: string })).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('No Redis configured') }));
  });

  it('warns at start-up, naming both settings, when the rate limit leaves a client fewer than 4 frames a heartbeat', async () => {
    // Read once each has exited: all it wrote is in.
    // A misspelt setting rides on this start: warned of by name, its value (maybe a secret) never shown.
    const server = await spawnServer({ NODE_ENV: 'development', RATE_LIMIT_PER_S: '1', HEARTBEAT_MS: '3000', JWT_SECRTE: 'misspelt-secret-value' });
    server.child.kill('SIGTERM');
    await server.exited;
    expect(server.output()).toContain('RATE_LIMIT_PER_S (1) and HEARTBEAT_MS (3000) leave a client 3 frames a heartbeat');
    expect(server.output()).toContain('JWT_SECRTE is not a Herald setting and is ignored: did you mean JWT_SECRET?');
    expect(server.output()).not.toContain('misspelt-secret-value');
  });

  it('starts in development without a secret, with an ephemeral one and a hint', async () => {
    // Exactly 4 frames a heartbeat: enough, no warning of it (checked below).
    const server = await spawnServer({ NODE_ENV: 'development', JWT_SECRET: '', RATE_LIMIT_PER_S: '2', HEARTBEAT_MS: '2000' });
    expect(server.output()).toContain('JWT_SECRET is not set');
    // One pod alone: no word of other pods' secrets.
    expect(server.output()).not.toContain('every pod');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.output()).not.toContain('frames a heartbeat');
  });
});

/** Everything `stream` writes from now on. */
function collected(stream: NodeJS.ReadableStream): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

/** The lines of `text`, each parsed as the one JSON object it must be. */
function jsonLines(text: string): Record<string, unknown>[] {
  const lines = text.split('\n').filter((line) => line !== '');
  expect(lines.length).toBeGreaterThan(0);
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`Not a JSON line: ${line}`);
    }
  });
}
