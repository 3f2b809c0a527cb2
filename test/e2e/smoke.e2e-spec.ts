import { createTestApp, TestApp } from '../support/test-app';
import { connectClient } from '../support/ws-client';
import { signToken } from '../support/tokens';
import { publish } from '../support/http';

describe('smoke', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it('delivers', async () => {
    const client = await connectClient(app.wsUrl, signToken({ sub: 'bob', rooms: ['chat:*'] }));
    const joined = await client.join('chat:1');
    expect(joined.data).toEqual({ room: 'chat:1', seq: null });
    const res = await publish(app.url, { rooms: ['chat:1'], type: 't', payload: { a: 1 } });
    expect(res.status).toBe(202);
    const n = await client.next('notification');
    expect(n.data.payload).toEqual({ a: 1 });
    await client.close();
  });
});
