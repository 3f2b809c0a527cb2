import type { WebSocket } from 'ws';
import { BrokerUnavailableError, PresenceChange } from '../broker/broker';
import { MemoryBroker } from '../broker/memory.broker';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from '../connections/connection';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from './rooms.service';

/** A broker whose presence store is down while publishing and history still work. */
class PresenceDownBroker extends MemoryBroker {
  async addPresence(): Promise<PresenceChange> {
    throw new BrokerUnavailableError();
  }
}

function fakeSocket() {
  return { readyState: 1, bufferedAmount: 0, send: jest.fn(), close: jest.fn() } as unknown as WebSocket & { send: jest.Mock };
}

describe('RoomsService', () => {
  const config = { maxRoomsPerConnection: 10, presenceEventsMaxUsers: 100 } as HeraldConfig;

  it('keeps a join that was answered when recording presence fails afterwards', async () => {
    const broker = new PresenceDownBroker({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlDays: 1 });
    const hub = new ConnectionHub(broker, new MetricsService());
    const rooms = new RoomsService(broker, hub, config);
    const socket = fakeSocket();
    const principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };
    const connection = new Connection('c1', socket, principal, 1 << 20, 100, Date.now());
    await rooms.admit(connection, () => undefined);

    const replies: string[] = [];
    await expect(rooms.join(connection, 'public:news', undefined, (joined) => replies.push(joined.room))).resolves.toBeUndefined();
    expect(replies).toEqual(['public:news']);
    expect(hub.isMember(connection, 'public:news')).toBe(true);
    await broker.close();
  });
});
