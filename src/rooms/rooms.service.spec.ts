import { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { BrokerUnavailableError } from '../broker/broker';
import { MemoryEngine } from '../broker/memory/memory.engine';
import { MemoryPresenceStore } from '../broker/memory/memory.presence-store';
import { PresenceChange } from '../broker/presence.store';
import { HeraldConfig } from '../config/herald.config';
import { Connection } from '../connections/connection';
import { ConnectionHub } from '../connections/connection.hub';
import { PreparedFrame } from '../connections/prepared-frame';
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

/**
 * A RoomsService on the memory engine (heartbeats of 1 s) whose broker's availability the test
 * changes itself: `availability(false)` then `availability(true)` is an outage and the return.
 */
function roomsWithAvailability(config: Partial<HeraldConfig>) {
  const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
  let listener: (available: boolean) => void = () => undefined;
  const broker = engine.broker as unknown as { onAvailabilityChange(listener: (available: boolean) => void): void };
  jest.spyOn(broker, 'onAvailabilityChange').mockImplementation((registered) => (listener = registered));
  const hub = new ConnectionHub(engine.broker, new MetricsService());
  const rooms = new RoomsService(engine.broker, engine.presence, hub, { ...config, heartbeatMs: 1000, redisCommandTimeoutMs: 1000 } as HeraldConfig);
  return { engine, hub, rooms, availability: (available: boolean) => listener(available) };
}

/**
 * Bob's presence frames (bobHearsPresence); then erin is in the store (her pod registered again)
 * while the broker comes back, and a pod back before hers tells the room she left.
 */
async function bobHearsErinToldLeft(service: ReturnType<typeof roomsWithAvailability>): Promise<() => string[]> {
  const heard = await bobHearsPresence(service);
  await service.engine.presence.add('public:talk', 'erin', 'c9');
  service.availability(false);
  service.availability(true);
  service.hub.tellHere('public:talk', 'erin', JSON.stringify({ event: 'presence', data: { room: 'public:talk', user: 'erin', status: 'left', timestamp: new Date().toISOString() } }));
  return heard;
}

/** A connection of `user` (`id`, the user's name unless given), admitted and a member of `room`. */
async function memberOf(rooms: RoomsService, room: string, user: string, id = user): Promise<Connection> {
  const connection = new Connection(id, fakeSocket(), { user, name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
  await rooms.admit(connection, () => undefined);
  await rooms.join(connection, room, undefined, () => undefined, () => undefined);
  return connection;
}

/** Bob, admitted and a member of public:talk, and the presence frames he hears from then on, as `user status`. */
async function bobHearsPresence({ rooms }: ReturnType<typeof roomsWithAvailability>): Promise<() => string[]> {
  const bob = await memberOf(rooms, 'public:talk', 'bob', 'c1');
  const sent: string[] = [];
  jest.spyOn(bob, 'send').mockImplementation((prepared) => (sent.push(prepared instanceof PreparedFrame ? prepared.payload.toString() : String(prepared)), true));
  return () =>
    sent
      .map((frame) => JSON.parse(frame) as { event: string; data: { user?: string; status?: string } })
      .filter((frame) => frame.event === 'presence')
      .map((frame) => `${frame.data.user} ${frame.data.status}`);
}

describe('RoomsService', () => {
  const config = { maxRoomsPerConnection: 10, presenceEventsMaxUsers: 100 } as HeraldConfig;

  it('keeps a join that was answered when recording presence fails afterwards', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const hub = new ConnectionHub(engine.broker, new MetricsService());
    const store = new PresenceDownStore();
    const adding = jest.spyOn(store, 'add');
    const rooms = new RoomsService(engine.broker, store, hub, config);
    const socket = fakeSocket();
    const principal = { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null };
    const connection = new Connection('c1', socket, principal, 1 << 20, 100, Date.now());
    await rooms.admit(connection, () => undefined);

    const replies: string[] = [];
    // Answered in this turn: presence is recorded after, and not waited for.
    expect(rooms.join(connection, 'public:news', undefined, (joined) => replies.push(joined.room), () => undefined)).toBeUndefined();
    expect(replies).toEqual(['public:news']);
    expect(adding).toHaveBeenCalledWith('public:news', 'ann', 'c1', expect.anything());
    await expect(adding.mock.results[0].value).rejects.toThrow(BrokerUnavailableError);
    await new Promise(setImmediate);
    expect(hub.isMember(connection, 'public:news')).toBe(true);
    await engine.close();
  });

  it('takes a join and the leave sent right after it in order, without waiting for the join\'s presence', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const hub = new ConnectionHub(engine.broker, new MetricsService());
    let recorded!: () => void;
    const store = new (class extends MemoryPresenceStore {
      readonly calls: string[] = [];
      async add(...args: Parameters<MemoryPresenceStore['add']>): Promise<PresenceChange> {
        this.calls.push(`add ${args[0]}`);
        // The store answers the add later, as Redis does.
        await new Promise<void>((resolve) => (recorded = resolve));
        return super.add(...args);
      }
      async remove(...args: Parameters<MemoryPresenceStore['remove']>): Promise<PresenceChange> {
        this.calls.push(`remove ${args[0]}`);
        return super.remove(...args);
      }
    })();
    const rooms = new RoomsService(engine.broker, store, hub, config);
    const connection = new Connection('c1', fakeSocket(), { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
    await rooms.admit(connection, () => undefined);

    expect(rooms.join(connection, 'public:news', undefined, () => undefined, () => undefined)).toBeUndefined();
    await rooms.leave(connection, 'public:news');
    // Asked of the store in the order the client sent them, the add still unanswered.
    expect(store.calls).toEqual(['add public:news', 'remove public:news']);
    expect(hub.isMember(connection, 'public:news')).toBe(false);
    recorded();
    await engine.close();
  });

  it('logs failed presence updates once per outage, then how many there were once the broker is back', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    let availability: (available: boolean) => void = () => undefined;
    // The embedded broker never changes availability: this test plays the broker coming back.
    const broker = engine.broker as unknown as { onAvailabilityChange(listener: (available: boolean) => void): void };
    jest.spyOn(broker, 'onAvailabilityChange').mockImplementation((listener) => (availability = listener));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const hub = new ConnectionHub(engine.broker, new MetricsService());
      const rooms = new RoomsService(engine.broker, new PresenceDownStore(), hub, config);
      for (const id of ['c1', 'c2', 'c3']) await memberOf(rooms, 'public:news', id);
      const messages = () => warn.mock.calls.map(([entry]) => (entry as { message: string }).message);
      expect(messages()).toEqual(['Presence update failed; later failures are counted until the broker is back']);
      availability(true);
      expect(messages().at(-1)).toBe('Presence updates failed during the outage; what still holds is told now');
      expect(warn.mock.calls.at(-1)![0]).toMatchObject({ failures: 3 });
    } finally {
      warn.mockRestore();
      await engine.close();
    }
  });

  it('revokes a join that completes after a refresh to a token that no longer grants its room', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const hub = new ConnectionHub(engine.broker, new MetricsService());
    const rooms = new RoomsService(engine.broker, new MemoryPresenceStore(), hub, config);
    const principal = { user: 'ann', name: undefined, roomPatterns: ['doc:*'], scopes: [], expiresAtMs: null };
    const connection = new Connection('c1', fakeSocket(), principal, 1 << 20, 100, Date.now());
    await rooms.admit(connection, () => undefined);

    // A broker that needs a round trip for history, as Redis does for a room this pod does not follow yet.
    jest.spyOn(engine.broker, 'historyNow').mockReturnValue(undefined);
    const told: string[] = [];
    const joining = rooms.join(connection, 'doc:1', undefined, (joined) => told.push(`joined ${joined.room}`), (room) => told.push(`left ${room}`));
    expect(joining).toBeInstanceOf(Promise);
    hub.swapPrincipal(connection, { ...principal, roomPatterns: ['doc:2'] });
    await joining;
    expect(told).toEqual(['joined doc:1', 'left doc:1']);
    expect(hub.isMember(connection, 'doc:1')).toBe(false);

    // A join the refresh did not narrow stays.
    const kept = rooms.join(connection, 'doc:2', undefined, (joined) => told.push(`joined ${joined.room}`), (room) => told.push(`left ${room}`));
    hub.swapPrincipal(connection, { ...principal, roomPatterns: ['doc:2', 'doc:3'] });
    await kept;
    expect(told.slice(2)).toEqual(['joined doc:2']);
    expect(hub.isMember(connection, 'doc:2')).toBe(true);
    await engine.close();
  });

  describe('around outages, on a clock the test moves', () => {
    const opened: ReturnType<typeof roomsWithAvailability>[] = [];
    /** A RoomsService whose broker's availability the test changes (roomsWithAvailability), ended after the test. */
    const onFakeClock = () => {
      const service = roomsWithAvailability(config);
      opened.push(service);
      return service;
    };
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] }));
    afterEach(async () => {
      jest.restoreAllMocks();
      jest.useRealTimers();
      for (const { rooms, engine } of opened.splice(0)) {
        rooms.onModuleDestroy();
        await engine.close();
      }
    });

    it('tells what a join or leave could not record while part of the broker was silent, two heartbeats later, though the broker never turned unavailable', async () => {
      // A Redis Cluster shard silent: its rooms' presence fails, the broker stays available.
      const service = onFakeClock();
      const { engine, rooms } = service;
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const heard = await bobHearsPresence(service);
      const shardDown = new BrokerUnavailableError();
      const add = jest.spyOn(engine.presence, 'add').mockRejectedValue(shardDown);
      const read = jest.spyOn(engine.presence, 'present').mockRejectedValue(shardDown);
      await memberOf(rooms, 'public:talk', 'carol', 'c2');
      // Still silent at the first look: kept, and looked at again.
      await jest.advanceTimersByTimeAsync(2000);
      expect(read).toHaveBeenCalled();
      expect(heard()).toEqual([]);
      // The shard answers, and carol's entry is registered again (each pod's refresh).
      add.mockRestore();
      read.mockRestore();
      await engine.presence.add('public:talk', 'carol', 'c2');
      await jest.advanceTimersByTimeAsync(2000);
      expect(heard()).toEqual(['carol joined']);
      expect(warn.mock.calls.map(([entry]) => (entry as { message: string }).message).at(-1)).toBe('Presence update failed; later failures are counted until the broker is back');
      // Nothing is left to look at: no further look, and nothing told twice.
      await jest.advanceTimersByTimeAsync(10_000);
      expect(heard()).toEqual(['carol joined']);
    });

    it('keeps hold of a later look while an earlier one finishes, so closing stops it', async () => {
      const service = onFakeClock();
      const { engine, rooms } = service;
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      jest.spyOn(engine.presence, 'add').mockRejectedValue(new BrokerUnavailableError());
      let endRead: (error: Error) => void = () => undefined;
      const read = jest.spyOn(engine.presence, 'present').mockImplementation(() => new Promise((_, reject) => (endRead = reject)));
      await memberOf(rooms, 'public:talk', 'carol');
      // The first look is reading when the broker is lost and back, and a later failure schedules another.
      await jest.advanceTimersByTimeAsync(2000);
      expect(read).toHaveBeenCalledTimes(1);
      service.availability(false);
      service.availability(true);
      await memberOf(rooms, 'public:talk', 'dave');
      endRead(new Error('unreachable'));
      await jest.advanceTimersByTimeAsync(0);
      rooms.onModuleDestroy();
      const readsAtClose = read.mock.calls.length;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(read).toHaveBeenCalledTimes(readsAtClose);
    });

    it('tells joined, three heartbeats after the broker is back, of a user its members were told left meanwhile who is there', async () => {
      const service = onFakeClock();
      const heard = await bobHearsErinToldLeft(service);
      await new Promise((resolve) => setImmediate(resolve));
      expect(heard()).toEqual(['erin left']);
      await jest.advanceTimersByTimeAsync(3000);
      expect(heard()).toEqual(['erin left', 'erin joined']);
    });

    it('keeps who its members were told left for the next return when the look cannot read the store, and tells joined then', async () => {
      const service = onFakeClock();
      const { engine, availability } = service;
      const heard = await bobHearsErinToldLeft(service);
      // The store cannot be read when the look comes: the broker is being lost again.
      const read = jest.spyOn(engine.presence, 'present').mockRejectedValueOnce(new Error('unreachable'));
      await jest.advanceTimersByTimeAsync(3000);
      expect(read).toHaveBeenCalled();
      expect(heard()).toEqual(['erin left']);
      availability(false);
      availability(true);
      await jest.advanceTimersByTimeAsync(3000);
      expect(heard()).toEqual(['erin left', 'erin joined']);
    });

    it('tells its members left, three heartbeats after the return, of users the store says left while the broker was lost, and not a second time of one told left meanwhile', async () => {
      const service = onFakeClock();
      const heard = await bobHearsPresence(service);
      jest.spyOn(service.engine.presence, 'present').mockImplementation(async (_room, users) => ({ users: 1, present: users.filter((user) => user === 'bob') }));
      jest.spyOn(service.engine.presence, 'unheard').mockImplementation(async () => ({ users: 1, joinsToldSince: [], departedSince: ['gina', 'hal'] }));
      service.availability(false);
      service.availability(true);
      // Hal's pod, back before the look, told the room; this pod heard it.
      service.hub.tellHere('public:talk', 'hal', JSON.stringify({ event: 'presence', data: { room: 'public:talk', user: 'hal', status: 'left', timestamp: new Date().toISOString() } }));
      await jest.advanceTimersByTimeAsync(3000);
      expect(heard()).toEqual(['hal left', 'gina left']);
    });

    it('does not tell left a second time of a user its members heard leave just before the loss was noticed, whom the store counts among the departures', async () => {
      const service = onFakeClock();
      const heard = await bobHearsPresence(service);
      jest.spyOn(service.engine.presence, 'present').mockImplementation(async (_room, users) => ({ users: 1, present: users.filter((user) => user === 'bob') }));
      // The store is asked from two command deadlines (2 s here) before the loss was noticed.
      jest.spyOn(service.engine.presence, 'unheard').mockImplementation(async () => ({ users: 1, joinsToldSince: [], departedSince: ['gina'] }));
      service.hub.tellHere('public:talk', 'gina', JSON.stringify({ event: 'presence', data: { room: 'public:talk', user: 'gina', status: 'left', timestamp: new Date().toISOString() } }));
      await jest.advanceTimersByTimeAsync(1500);
      service.availability(false);
      service.availability(true);
      await jest.advanceTimersByTimeAsync(3000);
      expect(heard()).toEqual(['gina left']);
    });

    describe('users announced joined while the broker was lost', () => {
      /**
       * Bob, a member of public:talk, the presence frames he hears, and a store that says frank
       * (and bob himself) were announced joined since whatever time it is asked about; erin is
       * there too, from before.
       */
      async function bobAndAnnouncedFrank(service: ReturnType<typeof roomsWithAvailability>, { unreadableFirst = false } = {}) {
        const heard = await bobHearsPresence(service);
        let unreadable = unreadableFirst;
        const there = new Set(['bob', 'erin', 'frank']);
        jest.spyOn(service.engine.presence, 'present').mockImplementation(async (_room, users) => ({ users: there.size, present: users.filter((user) => there.has(user)) }));
        const unheard = jest.spyOn(service.engine.presence, 'unheard').mockImplementation(async () => {
          if (unreadable) {
            unreadable = false;
            throw new Error('unreachable');
          }
          return { users: 3, joinsToldSince: ['bob', 'frank'], departedSince: [] };
        });
        const asked = () => unheard.mock.calls.map(([room, since, maxUsers]) => [room, since, maxUsers]);
        return { heard, asked };
      }

      it('tells its members three heartbeats after the return, once, asking the store from two command deadlines before the loss', async () => {
        const service = onFakeClock();
        const { heard, asked } = await bobAndAnnouncedFrank(service);
        const lostAt = Date.now();
        service.availability(false);
        await jest.advanceTimersByTimeAsync(5000);
        service.availability(true);
        await jest.advanceTimersByTimeAsync(2999);
        expect(heard()).toEqual([]);
        await jest.advanceTimersByTimeAsync(1);
        expect(asked()).toEqual([['public:talk', lostAt - 2000, 100]]);
        // Not bob himself, nor erin, whom the store does not say arrived meanwhile.
        expect(heard()).toEqual(['frank joined']);

        // The next outage asks from its own loss, and frank, told already, is not told again.
        const lostAgainAt = Date.now();
        service.availability(false);
        service.availability(true);
        await jest.advanceTimersByTimeAsync(3000);
        expect(asked()).toEqual([['public:talk', lostAt - 2000, 100], ['public:talk', lostAgainAt - 2000, 100]]);
        expect(heard()).toEqual(['frank joined']);
      });

      it('keeps the time of the first loss when the look cannot read the store, or the broker is lost again before it', async () => {
        const service = onFakeClock();
        const { heard, asked } = await bobAndAnnouncedFrank(service, { unreadableFirst: true });
        const lostAt = Date.now();
        service.availability(false);
        service.availability(true);
        // Lost again before the look: no look then, and the next one asks from the first loss.
        await jest.advanceTimersByTimeAsync(1000);
        service.availability(false);
        await jest.advanceTimersByTimeAsync(1000);
        service.availability(true);
        await jest.advanceTimersByTimeAsync(3000);
        expect(heard()).toEqual([]);
        expect(asked()).toEqual([['public:talk', lostAt - 2000, 100]]);
        service.availability(false);
        service.availability(true);
        await jest.advanceTimersByTimeAsync(3000);
        expect(asked()).toEqual([['public:talk', lostAt - 2000, 100], ['public:talk', lostAt - 2000, 100]]);
        expect(heard()).toEqual(['frank joined']);
      });
    });

    it('schedules no look at what members were told once closed, though the leaves being told then finish after', async () => {
      const { engine, rooms, availability } = onFakeClock();
      const look = jest.spyOn(rooms as unknown as { correctToldPresence(told: Set<string>): Promise<void> }, 'correctToldPresence');
      availability(false);
      availability(true);
      await jest.advanceTimersByTimeAsync(1999);
      // The leaves are told now (two heartbeats), and the module ends before that settles.
      jest.advanceTimersByTime(1);
      rooms.onModuleDestroy();
      await jest.advanceTimersByTimeAsync(5000);
      expect(look).not.toHaveBeenCalled();
    });
  });
});
