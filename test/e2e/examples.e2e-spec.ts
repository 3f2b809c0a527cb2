import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken, TEST_JWT_SECRET } from '../support/tokens';
import { requireTool } from '../support/tools';
import { connectClient, type TestClient } from '../support/ws-client';

const run = promisify(execFile);
const examples = join(__dirname, '..', '..', 'examples');

/**
 * examples/: a backend (Node.js, or another language) mints its own token, publishes, and reads presence.
 * Each runs against a real Herald with a user connected in the room.
 */
describe('examples for backends in other languages', () => {
  let app: TestApp;
  let alice: TestClient;
  beforeAll(async () => {
    // Publish and presence on an internal port of their own, as in production (404 on the public one).
    app = await createTestApp({ INTERNAL_PORT: '0' });
    alice = await connectClient(app.wsUrl, signToken({ sub: 'alice', rooms: ['chat:*'] }));
    alice.send({ event: 'join', data: { room: 'chat:7' }, id: 1 });
    await alice.next('joined');
  });
  afterAll(async () => {
    await alice?.close();
    await app?.close();
  });

  async function expectItWorked(stdout: string, from: string): Promise<void> {
    const [published, presence] = stdout.trim().split('\n').map((line) => JSON.parse(line));
    // Each sends an id of its own (what makes its retry safe), and Herald answers with it.
    expect(published).toEqual({ id: expect.stringMatching(/^invoice-paid-[0-9a-f-]{16,}$/), targets: 2 });
    expect(presence).toEqual({ room: 'chat:7', users: ['alice'], connections: 1 });
    const rooms = [(await alice.next('notification')).data, (await alice.next('notification')).data];
    expect(rooms.map((n) => n.room).sort()).toEqual(['chat:7', 'user:alice']);
    expect(rooms.map((n) => n.payload)).toEqual([{ title: 'Invoice paid', body: from }, { title: 'Invoice paid', body: from }]);
  }

  /** HERALD_URL given: the internal port's URL. */
  const env = () => ({ PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', JWT_SECRET: TEST_JWT_SECRET, HERALD_URL: app.internalUrl! });
  /** No HERALD_URL, but Herald's own PORT and INTERNAL_PORT, as a shell that started it has them: the example finds the internal port. */
  const portsEnv = () => {
    const { HERALD_URL: _url, ...withoutUrl } = env();
    return { ...withoutUrl, PORT: new URL(app.url).port, INTERNAL_PORT: new URL(app.internalUrl!).port };
  };

  it('curl (bash, curl, openssl)', async () => {
    requireTool('curl', 'apt-get install curl');
    requireTool('openssl', 'apt-get install openssl');
    const { stdout } = await run(join(examples, 'curl', 'herald.sh'), ['chat:7', 'alice'], { env: portsEnv() });
    await expectItWorked(stdout, 'From curl');
  });

  it('Node.js (standard library)', async () => {
    const { stdout } = await run(process.execPath, [join(examples, 'node', 'herald.mjs'), 'chat:7', 'alice'], { env: portsEnv() });
    await expectItWorked(stdout, 'From Node.js');
  });

  it('Node.js, run from a path with a space in it and through a symlink', async () => {
    // Copied into a project of one's own (~/My Projects/...) or linked there: the script still
    // runs, where a main-module check on the raw path printed nothing and exited 0.
    const dir = mkdtempSync(join(tmpdir(), 'herald example '));
    try {
      copyFileSync(join(examples, 'node', 'herald.mjs'), join(dir, 'herald.mjs'));
      symlinkSync(join(dir, 'herald.mjs'), join(dir, 'linked.mjs'));
      const copied = await run(process.execPath, [join(dir, 'herald.mjs'), 'chat:7', 'alice'], { env: env() });
      await expectItWorked(copied.stdout, 'From Node.js');
      const linked = await run(process.execPath, [join(dir, 'linked.mjs'), 'chat:7', 'alice'], { env: env() });
      await expectItWorked(linked.stdout, 'From Node.js');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what is wrong when the secret is wrong (Node.js)', async () => {
    const failure = await run(process.execPath, [join(examples, 'node', 'herald.mjs')], { env: { ...env(), JWT_SECRET: 'not-the-secret-0123456789' } }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1, stderr: expect.stringContaining('POST /v1/notifications answered 401') });
  });

  it('says what is wrong when the secret is wrong (curl), on a line of its own', async () => {
    requireTool('curl', 'apt-get install curl');
    requireTool('openssl', 'apt-get install openssl');
    const failure = await run(join(examples, 'curl', 'herald.sh'), [], { env: { ...env(), JWT_SECRET: 'not-the-secret-0123456789' } }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 22, stdout: expect.stringMatching(/"statusCode":401.*\}\n$/), stderr: expect.stringContaining('401') });
  });

  type Failure = { code: number; stdout: string; stderr: string };
  const failed = (command: string, args: string[], options: { env: Record<string, string>; cwd?: string }) =>
    run(command, args, { ...options, timeout: 120_000 }).then(
      ({ stdout }) => { throw new Error(`expected a failure, got: ${stdout}`); },
      (error: Failure) => error,
    );
  const goEnv = () => ({ GOFLAGS: '-mod=mod', GOCACHE: join(process.env.HOME ?? '/tmp', '.cache', 'go-build') });

  it('says to set JWT_SECRET when it is unset (curl, Node.js, Python, Go)', async () => {
    requireTool('python3', 'apt-get install python3');
    requireTool('go', 'apt-get install golang-go');
    const { JWT_SECRET: _secret, ...unset } = env();
    const runs: [string, string[], string?][] = [
      [process.execPath, [join(examples, 'node', 'herald.mjs')]],
      ['python3', [join(examples, 'python', 'herald_example.py')]],
      [join(examples, 'curl', 'herald.sh'), []],
      ['go', ['run', '.'], join(examples, 'go')],
    ];
    for (const [command, args, cwd] of runs) {
      const failure = await failed(command, args, { env: command === 'go' ? { ...unset, ...goEnv() } : unset, cwd });
      expect(failure.code).toBe(1);
      expect(failure.stderr).toContain('set JWT_SECRET to the HS256 secret Herald verifies with');
      expect(failure.stderr).not.toMatch(/Traceback|TypeError|"key" argument/);
    }
  }, 150_000);

  it('names the URL it could not reach when nothing answers there (Node.js, Python)', async () => {
    requireTool('python3', 'apt-get install python3');
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const [command, script] of [[process.execPath, join(examples, 'node', 'herald.mjs')], ['python3', join(examples, 'python', 'herald_example.py')]]) {
      const failure = await failed(command, [script], { env: { ...env(), HERALD_URL: closed } });
      expect(failure.code).toBe(1);
      expect(failure.stderr).toContain(`POST ${closed}/v1/notifications failed: `);
      expect(failure.stderr).toMatch(/refused/i);
      expect(failure.stderr).not.toMatch(/Traceback/);
    }
  });

  it('Python (standard library)', async () => {
    requireTool('python3', 'apt-get install python3');
    const { stdout } = await run('python3', [join(examples, 'python', 'herald_example.py'), 'chat:7', 'alice'], { env: portsEnv() });
    await expectItWorked(stdout, 'From Python');
  });

  it('says what is wrong when the secret is wrong (Python)', async () => {
    requireTool('python3', 'apt-get install python3');
    const failure = await run('python3', [join(examples, 'python', 'herald_example.py')], { env: { ...env(), JWT_SECRET: 'not-the-secret-0123456789' } }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1, stderr: expect.stringContaining('POST /v1/notifications answered 401') });
  });

  it('Go (standard library)', async () => {
    requireTool('go', 'apt-get install golang-go');
    const { stdout } = await run('go', ['run', '.', 'chat:7', 'alice'], { cwd: join(examples, 'go'), env: { ...portsEnv(), ...goEnv() }, timeout: 120_000 });
    await expectItWorked(stdout, 'From Go');
  }, 150_000);
});
