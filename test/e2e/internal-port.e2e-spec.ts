import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient } from '../support/ws-client';

describe('INTERNAL_PORT', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ INTERNAL_PORT: '0' })));
  afterAll(() => app.close());

  it('serves publish, presence and metrics only on the internal port', async () => {
    const internal = app.internalUrl!;
    expect(internal).toBeDefined();
    const client = await connectClient(app.wsUrl, signToken({ sub: 'ida' }));
    expect((await publish(internal, { users: ['ida'], type: 'internal', payload: {} })).status).toBe(202);
    expect((await client.next('notification')).data.type).toBe('internal');
    expect((await http('GET', `${internal}/v1/rooms/user:ida/presence`, { token: publisherToken() })).status).toBe(200);
    expect((await http('GET', `${internal}/metrics`)).status).toBe(200);

    const publicPublish = await publish(app.url, { users: ['ida'], type: 'public', payload: {} });
    expect(publicPublish.status).toBe(404);
    expect(publicPublish.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    expect((await http('GET', `${app.url}/v1/rooms/user:ida/presence`, { token: publisherToken() })).status).toBe(404);
    expect((await http('GET', `${app.url}/metrics`)).status).toBe(404);
    await client.close();
  });

  it('keeps /ws and health on the public port', async () => {
    expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
    expect((await http('GET', `${app.url}/readyz`)).status).toBe(200);
    const client = await connectClient(app.wsUrl, signToken());
    await client.close();
  });
});
