import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { TEST_JWT_SECRET } from '../support/tokens';
import { connectClient } from '../support/ws-client';

const run = promisify(execFile);
const script = join(__dirname, '..', '..', 'scripts', 'mint-token.mjs');

describe('npm run token', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  const mint = async (...args: string[]) =>
    (await run(process.execPath, [script, ...args], { env: { PATH: process.env.PATH, JWT_SECRET: TEST_JWT_SECRET } })).stdout.trim();

  it('mints tokens the service accepts, with rooms and scopes', async () => {
    const userToken = await mint('--sub', 'alice', '--rooms', 'chat:*', '--ttl', '1h', '--name', 'Alice');
    const client = await connectClient(app.wsUrl, userToken);
    expect((await client.request('join', { room: 'chat:9' })).event).toBe('joined');
    const publisher = await mint('--sub', 'svc', '--scope', 'notifications:publish');
    expect((await publish(app.url, { rooms: ['chat:9'], type: 'minted', payload: {} }, publisher)).status).toBe(202);
    expect((await client.next('notification')).data.type).toBe('minted');
    await client.close();
  });

  it('fails with a message naming what is missing', async () => {
    await expect(run(process.execPath, [script, '--sub', 'x'], { env: { PATH: process.env.PATH } })).rejects.toMatchObject({
      stderr: expect.stringContaining('JWT_SECRET'),
    });
    await expect(mint('--rooms', 'a')).rejects.toMatchObject({ stderr: expect.stringContaining('--sub') });
  });
});
