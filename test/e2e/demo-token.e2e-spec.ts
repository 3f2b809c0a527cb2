import { http } from '../support/http';
import { createTestApp } from '../support/test-app';
import { connectClient } from '../support/ws-client';

describe('development token endpoint', () => {
  const mint = (url: string) => http('POST', `${url}/demo/token`, { body: { sub: 'alice', scope: 'notifications:publish' } });

  it('exists with the random development secret', async () => {
    const app = await createTestApp({ NODE_ENV: 'development', JWT_SECRET: '' });
    try {
      const response = await mint(app.url);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: expect.any(String), expiresAt: expect.any(String) });
      const claims = JSON.parse(Buffer.from(response.body.token.split('.')[1], 'base64url').toString());
      expect(new Date(claims.exp * 1000).toISOString()).toBe(response.body.expiresAt);
    } finally {
      await app.close();
    }
  });

  it('mints only tokens the server accepts: a sub must fit the personal room user:<sub>', async () => {
    const app = await createTestApp({ NODE_ENV: 'development', JWT_SECRET: '' });
    try {
      const refused = await http('POST', `${app.url}/demo/token`, { body: { sub: 'bob@example.com' } });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(refused.body)).toContain('sub');
      // Each message starts with the field it is about, as every 400's does.
      const badRooms = await http('POST', `${app.url}/demo/token`, { body: { sub: 'bob', rooms: ['doc:1', 'no spaces'], colour: 'red' } });
      expect(badRooms.status).toBe(400);
      expect(badRooms.body.message).toEqual(['property colour should not exist', 'rooms must contain only room names or patterns (a * at the end)']);
      const document = (await http('GET', `${app.url}/openapi.json`)).body;
      expect(document.components.schemas.DemoTokenRequest.additionalProperties).toBe(false);
      const longest = 'u'.repeat(123);
      const minted = await http('POST', `${app.url}/demo/token`, { body: { sub: longest } });
      expect(minted.status).toBe(200);
      const client = await connectClient(app.wsUrl, minted.body.token);
      expect(client.frames[0].data.user).toBe(longest);
      await client.close();
    } finally {
      await app.close();
    }
  });

  it('does not exist with a configured secret unless DEMO_ENABLED=true', async () => {
    const app = await createTestApp({ NODE_ENV: 'development' });
    const enabled = await createTestApp({ NODE_ENV: 'development', DEMO_ENABLED: 'true' });
    try {
      expect((await mint(app.url)).status).toBe(404);
      expect((await http('GET', `${app.url}/demo`)).status).toBe(200);
      expect((await mint(enabled.url)).status).toBe(200);
    } finally {
      await Promise.all([app.close(), enabled.close()]);
    }
  });

  it('never exists in production, even with DEMO_ENABLED=true', async () => {
    const app = await createTestApp({ NODE_ENV: 'production', DEMO_ENABLED: 'true' });
    try {
      expect((await mint(app.url)).status).toBe(404);
      const page = await http('GET', `${app.url}/demo`);
      expect(page.status).toBe(200);
      // Never framed by another site: its button publishes as the page's user.
      expect([page.headers.get('x-frame-options'), page.headers.get('content-security-policy')]).toEqual(['DENY', "frame-ancestors 'none'"]);
    } finally {
      await app.close();
    }
  });
});
