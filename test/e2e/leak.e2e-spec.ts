import { Broker } from '../../src/broker/broker';
import { PresenceStore } from '../../src/broker/presence.store';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { createTestApp, TestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient, openClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('cleanup (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), RATE_LIMIT_PER_S: '1000' })));
  afterAll(() => app.close());

  it('holds no entries after thousands of connect/join/close cycles of every kind', async () => {
    const cycles = kind === 'memory' ? 2000 : 1000;
    const batch = 50;
    for (let start = 0; start < cycles; start += batch) {
      await Promise.all(
        Array.from({ length: batch }, async (_, offset) => {
          const n = start + offset;
          const client = await connectClient(app.wsUrl, signToken({ sub: `leak${n % 97}`, rooms: ['chat:*'] }));
          await client.join(`chat:${n % 13}`);
          await client.join(`public:${n % 7}`);
          switch (n % 4) {
            case 0:
              await client.close();
              break;
            case 1:
              client.terminate();
              break;
            case 2:
              await client.request('leave', { room: `chat:${n % 13}` });
              await client.close(4000);
              break;
            default:
              client.send('x'.repeat(70_000)); // closed by the server with 1009
              await client.closed;
          }
        }),
      );
    }
    // Refused connections leave nothing behind either.
    for (let i = 0; i < 20; i++) await (await openClient(app.wsUrl, 'bad-token')).closed;

    const hub = app.app.get(ConnectionHub);
    const subscribedRooms = () => app.app.get(Broker).subscribedRooms;
    const presenceEntries = () => app.app.get(PresenceStore).localEntries;
    await eventually(() => {
      expect(hub.stats()).toEqual({ connections: 0, rooms: 0, joining: 0, buffering: 0, replayedAhead: 0, users: 0, subscriptions: 0, expiring: 0 });
      expect(subscribedRooms()).toBe(0);
      expect(presenceEntries()).toBe(0);
    }, 10_000);
  });
});
