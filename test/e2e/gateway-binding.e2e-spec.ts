import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { HeraldWsAdapter } from '../../src/gateway/herald-ws.adapter';
import { eventually } from '../support/eventually';
import { rawUpgrade } from '../support/raw-upgrade';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

/**
 * Per-connection memory: Nest's handlers are bound once per server (not to every socket), and
 * each frame still reaches its handler, guard and filter as its own connection's.
 */
describe('gateway binding', () => {
  let app: TestApp;
  let clients: TestClient[] = [];
  const bindings = jest.spyOn(HeraldWsAdapter.prototype, 'bindMessageHandlers');

  beforeAll(async () => {
    app = await createTestApp({ RATE_LIMIT_PER_S: '1000' });
  });
  afterEach(() => clients.forEach((client) => client.close()));
  afterAll(async () => {
    await app.close();
    bindings.mockRestore();
  });

  it('binds the handlers once for every connection, and answers each frame on its own connection', async () => {
    const users = ['ann', 'ben', 'cat', 'dan', 'eve'];
    clients = await Promise.all(users.map((sub) => connectClient(app.wsUrl, signToken({ sub, rooms: ['chat:*'] }))));
    await Promise.all(clients.map((client) => client.join('chat:binding')));
    // Interleaved frames from every connection: each ack must come back to its sender, and each
    // message must name its sender, though every frame went through the same bound handlers.
    const acks = await Promise.all(clients.map((client, i) => client.request('message', { room: 'chat:binding', text: users[i] })));
    for (const ack of acks) expect(ack.event).toBe('ack');
    const seen = await Promise.all(
      clients.map(async (client) => {
        const messages = [];
        for (let i = 0; i < users.length; i++) messages.push((await client.next('message')).data as { user: string; text: string });
        return messages;
      }),
    );
    for (const messages of seen) {
      expect(messages.map((m) => m.user).sort()).toEqual([...users].sort());
      for (const message of messages) expect(message.text).toBe(message.user);
    }
    expect(bindings).toHaveBeenCalledTimes(1);
  });

  it('keeps no listeners on an admitted socket: its events reach the shared handlers, and ws keeps no set of its clients', async () => {
    clients = await Promise.all(['hal', 'ivy'].map((sub) => connectClient(app.wsUrl, signToken({ sub, rooms: ['chat:*'] }))));
    await Promise.all(clients.map((client) => client.join('chat:listeners')));
    // Earlier tests' connections may still be closing: these two are found by their users.
    const connectionsOf = (users: string[]) => [...app.app.get(ConnectionHub).all()].filter((connection) => users.includes(connection.user));
    const sockets = connectionsOf(['hal', 'ivy']).map((connection) => connection.socket);
    expect(sockets).toHaveLength(2);
    for (const socket of sockets) expect(socket.eventNames()).toEqual([]);
    // Frames and pings still reach the dispatcher, closes the admission.
    expect((await clients[0].request('ping', {})).event).toBe('pong');
    clients[1].close();
    await eventually(() => expect(connectionsOf(['ivy'])).toEqual([]));
  });

  it('drops every socket it still holds when the application closes, admitted or refused and never answering, so closing never waits on a client', async () => {
    // Longer than the test may take: a refused socket left to ws's close timeout would fail it.
    const own = await createTestApp({ CLOSE_TIMEOUT_MS: '60000' });
    try {
      const client = await connectClient(own.wsUrl, signToken({ sub: 'kim' }));
      // Completes the handshake with a bad token, then reads the 1008 close frame and never answers it.
      const silent = rawUpgrade(own.wsUrl, { headers: 'Authorization: Bearer not-a-token\r\n' });
      await eventually(() => expect(silent.received()).toContain('\r\n\r\n\x88'));
      await own.close();
      expect((await client.closed).code).toBe(1006);
      await silent.closed;
    } finally {
      await own.close().catch(() => undefined);
    }
  });

  it('answers an error on the connection whose frame failed, with its id', async () => {
    clients = await Promise.all(['fay', 'gus'].map((sub) => connectClient(app.wsUrl, signToken({ sub, rooms: ['chat:*'] }))));
    const [fay, gus] = clients;
    const refused = fay.request('join', { room: 'secret:1' });
    const pong = gus.request('ping', {});
    expect(await refused).toMatchObject({ event: 'error', data: { code: 'forbidden', event: 'join' } });
    expect((await pong).event).toBe('pong');
  });

  it('serves sockets with a ws that lets go of the read buffer after unmasking a frame (>= 8.23)', () => {
    // Older ws kept each socket's last frame mask as a view into the buffer
    // it was read into, pinning that buffer for as long as the connection stayed idle.
    const fromPlatformWs = createRequire(require.resolve('@nestjs/platform-ws'));
    const { version } = JSON.parse(readFileSync(fromPlatformWs.resolve('ws/package.json'), 'utf8')) as { version: string };
    const [major, minor] = version.split('.').map(Number);
    expect(major > 8 || (major === 8 && minor >= 23)).toBe(true);
  });
});
