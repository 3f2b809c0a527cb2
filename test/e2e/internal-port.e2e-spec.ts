import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { freePort } from '../support/free-port';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { rawUpgrade } from '../support/raw-upgrade';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient } from '../support/ws-client';

describe('INTERNAL_PORT', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ INTERNAL_PORT: '0' })));
  afterAll(() => app.close());
  const internal = () => app.internalUrl!;

  it('serves publish, presence and metrics only on the internal port', async () => {
    const internal = app.internalUrl!;
    expect(internal).toBeDefined();
    const client = await connectClient(app.wsUrl, signToken({ sub: 'ida' }));
    expect((await publish(internal, { users: ['ida'], type: 'internal', payload: {} })).status).toBe(202);
    expect((await client.next('notification')).data.type).toBe('internal');
    // A personal room's presence is its user's connections (section 6 counts every room).
    const personal = await http('GET', `${internal}/v1/rooms/user:ida/presence`, { token: publisherToken() });
    expect(personal).toMatchObject({ status: 200, body: { room: 'user:ida', users: ['ida'], connections: 1 } });
    const metrics = await http('GET', `${internal}/metrics`);
    expect(metrics.status).toBe(200);
    // The pod's own figures, not a second registry's: read from the hub and tallied at the scrape.
    expect(metrics.body).toMatch(/^herald_connections 1$/m);
    expect(metrics.body).toMatch(/^herald_frames_out_total\{event="welcome"\} 1$/m);

    const publicPublish = await publish(app.url, { users: ['ida'], type: 'public', payload: {} });
    expect(publicPublish.status).toBe(404);
    expect(publicPublish.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    expect((await http('GET', `${app.url}/v1/rooms/user:ida/presence`, { token: publisherToken() })).status).toBe(404);
    expect((await http('GET', `${app.url}/metrics`)).status).toBe(404);
    await client.close();
  });

  it.each([
    ['POST', '/v1/NOTIFICATIONS'],
    ['POST', '/V1/notifications'],
    ['POST', '/v1/notifications/'],
    ['GET', '/METRICS'],
    ['GET', '/Metrics/'],
    ['GET', '/V1/rooms/chat:1/presence'],
    ['GET', '/v1/ROOMS/chat:1/PRESENCE'],
  ])('has no %s %s on the public port in any letter case', async (method, path) => {
    const response = await http(method, `${app.url}${path}`, { token: publisherToken(), body: method === 'POST' ? { users: ['ida'], type: 'bypass', payload: {} } : undefined });
    expect(response.status).toBe(404);
    expect(JSON.stringify(response.body)).not.toContain('herald_');
  });

  it.each([
    ['not JSON', 'application/json', '{bad'],
    ['nested too deep', 'application/json', `${'['.repeat(40)}${']'.repeat(40)}`],
    ['not an object', 'application/json', '"x"'],
    ['in a charset it does not read', 'application/json; charset=latin1', '{}'],
    ['in a charset that does not exist', 'application/json; charset=bogus', '{}'],
    ['not JSON at all', 'text/plain', 'x'],
    ['over MAX_PUBLISH_BYTES', 'application/json', `{"a":"${'x'.repeat(70_000)}"}`],
  ])('answers 404 on the public port to a service route or an unknown path, whatever the body: one %s', async (_, type, raw) => {
    for (const path of ['/v1/notifications', '/v1/notifications/batch', '/nope']) {
      const response = await http('POST', `${app.url}${path}`, { token: publisherToken(), raw, headers: { 'content-type': type } });
      expect([path, response.status]).toEqual([path, 404]);
      expect(response.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    }
    const gzipped = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw, headers: { 'content-type': type, 'content-encoding': 'gzip' } });
    expect(gzipped.status).toBe(404);
  });

  it('validates bodies on the internal port as on the public one', async () => {
    const unknownField = await publish(internal(), { room: ['a'], users: ['ida'], type: 't', payload: {} });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.message).toContain('property room should not exist');
    const notJson = await http('POST', `${internal()}/v1/notifications`, { token: publisherToken(), raw: '{}', headers: { 'content-type': 'text/plain' } });
    expect(notJson.status).toBe(415);
    const deep = await http('POST', `${internal()}/v1/notifications`, { token: publisherToken(), raw: `{"users":["ida"],"type":"t","payload":${'['.repeat(40)}${']'.repeat(40)}}` });
    expect(deep.status).toBe(400);
    expect((await http('GET', `${internal()}/readyz`)).status).toBe(200);
  });

  it('keeps /ws, the inbox and health on the public port', async () => {
    expect(await http('GET', `${app.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect((await http('GET', `${app.url}/readyz`)).status).toBe(200);
    expect((await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: 'ida' }) })).status).toBe(200);
    expect((await http('GET', `${internal()}/v1/inbox`, { token: signToken({ sub: 'ida' }) })).status).toBe(404);
    const client = await connectClient(app.wsUrl, signToken());
    await client.close();
  });

  it('answers a WebSocket upgrade on the internal port, which serves none, as a request for a path it does not have', async () => {
    const upgrade = rawUpgrade(`ws://127.0.0.1:${new URL(internal()).port}/ws`, { token: signToken({ sub: 'lost' }) });
    // Answered as a plain request when nothing takes upgrades; a listener that took them and did
    // nothing left it unanswered and open for ever.
    try {
      expect(await upgrade.firstChunk).toMatch(/^HTTP\/1\.1 404 /);
    } finally {
      upgrade.hangUp();
    }
  });
});

describe('a start that fails', () => {
  it('closes what it had opened, so its public port is free again', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as AddressInfo).port;
    const port = await freePort();
    try {
      // The public port binds first; the internal one is taken, so start-up fails after it.
      await expect(createTestApp({ PORT: String(port), INTERNAL_PORT: String(busyPort) })).rejects.toThrow(/EADDRINUSE/);
      const again = await createTestApp({ PORT: String(port) });
      expect(again.port).toBe(port);
      await again.close();
    } finally {
      busy.close();
    }
  });
});
