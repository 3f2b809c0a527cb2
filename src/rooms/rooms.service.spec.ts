import type { WebSocket } from 'ws';
import { BrokerUnavailableError } from '../broker/broker';
import { MemoryEngine } from '../broker/memory/memory.engine';
import { MemoryPresenceStore } from '../broker/memory/memory.presence-store';
import { PresenceChange } from '../broker/presence.store';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from '../connections/connection';
import { ConnectionHub } from '../connections/connection.hub';
import { MetricsService } from '../metrics/metrics.service';
import { RoomsService } from './rooms.service';

/** A presence store that is down while publishing and history still work. */
class PresenceDownStore extends MemoryPresenceStore {
  async add(): Promise<PresenceChange> {
    throw new BrokerUnavailableError();
  }
}

function fakeSocket() {
  return { readyState: 1, bufferedAmount: 0, send: jest.fn(), close: jest.fn() } as unknown as WebSocket & { send: jest.Mock };
}

describe('RoomsService', () => {
  const config = { maxRoomsPerConnection: 10, presenceEventsMaxUsers: 100 } as HeraldConfig;

  it('keeps a join that was answered when recording presence fails afterwards', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const hub = new ConnectionHub(engine.broker, new MetricsService());
    const rooms = new RoomsService(engine.broker, new PresenceDownStore(), hub, config);
    const socket = fakeSocket();
    const principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };
    const connection = new Connection('c1', socket, principal, 1 << 20, 100, Date.now());
    await rooms.admit(connection, () => undefined);

    const replies: string[] = [];
    await expect(rooms.join(connection, 'public:news', undefined, (joined) => replies.push(joined.room))).resolves.toBeUndefined();
    expect(replies).toEqual(['public:news']);
    expect(hub.isMember(connection, 'public:news')).toBe(true);
    await engine.close();
  });
});
