import type { WebSocket } from 'ws';
import { BrokerUnavailableError, Delivery, HistoryResult, Publication } from '../broker/broker';
import { formatSeq, parseSeq } from '../broker/seq';
import { MemoryEngine } from '../broker/memory/memory.engine';
import { MetricsService } from '../metrics/metrics.service';
import { Connection } from './connection';
import { ConnectionHub } from './connection.hub';
import { PreparedFrame } from './prepared-frame';

const ROOM = 'user:ann';

/**
 * A hub on the embedded broker whose history reads wait for the test (as Redis's round trip
 * does), with one connection that is a member of its personal room, as after admission.
 */
async function memberOfPersonalRoom() {
  const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
  const broker = engine.broker;
  const hub = new ConnectionHub(broker, new MetricsService());
  // Every frame the socket was given, live (a PreparedFrame, written past ws) or not, in order.
  const frames: string[] = [];
  // The same frames as the write calls that would carry them: those sent while the TCP stream
  // was corked leave together when it is uncorked.
  const writes: string[][] = [];
  let held: string[] | undefined;
  const stream = {
    writableCorked: 0,
    cork: () => {
      if (stream.writableCorked++ === 0) held = [];
    },
    uncork: () => {
      if (--stream.writableCorked > 0) return;
      writes.push(held!);
      held = undefined;
    },
  };
  const record = (frame: string) => {
    frames.push(frame);
    if (held) held.push(frame);
    else writes.push([frame]);
    return true;
  };
  // ws's Sender as far as ready-made frames go (a replay's history frames, ReplayFrames): idle, writing what it is given.
  const sender = { _state: 0, _queue: [], sendFrame: (wire: Buffer[]) => record(wire[0].subarray(wire[0][1] < 126 ? 2 : 4).toString()) };
  const socket = { readyState: 1, bufferedAmount: 0, _socket: stream, _sender: sender, send: jest.fn(record), close: jest.fn() } as unknown as WebSocket;
  const connection = new Connection('c1', socket, { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
  const send = connection.send.bind(connection);
  jest.spyOn(connection, 'send').mockImplementation((frame) => (frame instanceof PreparedFrame ? record(frame.payload.toString()) : send(frame)));
  hub.add(connection);
  await hub.enter(connection, ROOM, { readHistory: false }, () => undefined);
  const publish = async (text: string) => ((await broker.publish(ROOM, 'notification', { text })) as { seq: string }).seq;
  /** Makes the next history read wait until `answer` is called (the real read, or a failure). */
  const slowHistory = () => {
    let answer!: (fail?: boolean) => void;
    const real = broker.history.bind(broker);
    jest.spyOn(broker, 'historyNow').mockReturnValue(undefined);
    jest.spyOn(broker, 'history').mockImplementationOnce((room, since) => new Promise<HistoryResult>((resolve, reject) => (answer = (fail) => (fail ? reject(new BrokerUnavailableError()) : resolve(real(room, since))))));
    return { answer: (fail?: boolean) => answer(fail) };
  };
  const label = (text: string) => {
    const frame = JSON.parse(text);
    if (frame.event === 'recovery') return `recovery ${frame.data.seq}`;
    return frame.event === 'joined' ? `joined missed ${frame.data.missed}` : frame.data.text;
  };
  /** The texts and joined replies the socket was sent, in order. */
  const sent = () => frames.map(label);
  /** The same, as the write calls that carried them. */
  const written = () => writes.map((write) => write.map(label));
  return { engine, hub, connection, frames, writes, publish, slowHistory, sent, written };
}

describe('ConnectionHub: a member rejoining with since', () => {
  it('sends what was published during its history read after the replay, not before it', async () => {
    const { engine, hub, connection, frames, writes, publish, slowHistory, sent, written } = await memberOfPersonalRoom();
    const since = await publish('seen');
    await publish('missed');
    frames.length = 0;
    writes.length = 0;
    const { answer } = slowHistory();
    const entering = hub.enter(connection, ROOM, { readHistory: true, since }, (joined) => connection.send(JSON.stringify({ event: 'joined', data: joined })));
    await publish('during the read');
    expect(sent()).toEqual([]);
    answer();
    await expect(entering).resolves.toBe('already_member');
    // The read happened after the third publication, so it replays both and the buffer adds nothing twice.
    expect(sent()).toEqual(['joined missed 2', 'missed', 'during the read']);
    // The reply and its replay leave in one write call, not one each, at the end of the turn.
    await new Promise(setImmediate);
    expect(written()).toEqual([['joined missed 2', 'missed', 'during the read']]);
    await publish('after');
    expect(sent().at(-1)).toBe('after');
    expect(hub.isMember(connection, ROOM)).toBe(true);
    await engine.close();
  });

  it('gets what waited live, in order, when the history read fails, and stays a member', async () => {
    const { engine, hub, connection, frames, publish, slowHistory, sent } = await memberOfPersonalRoom();
    const since = await publish('seen');
    frames.length = 0;
    const { answer } = slowHistory();
    const entering = hub.enter(connection, ROOM, { readHistory: true, since }, () => undefined);
    await publish('one');
    await publish('two');
    answer(true);
    await expect(entering).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(sent()).toEqual(['one', 'two']);
    await publish('three');
    expect(sent()).toEqual(['one', 'two', 'three']);
    await engine.close();
  });

  it('forgets a member that closed during the read', async () => {
    const { engine, hub, connection, frames, publish, slowHistory } = await memberOfPersonalRoom();
    const since = await publish('seen');
    frames.length = 0;
    const { answer } = slowHistory();
    const entering = hub.enter(connection, ROOM, { readHistory: true, since }, () => undefined);
    await publish('during');
    hub.remove(connection);
    answer();
    await expect(entering).resolves.toBe('connection_closed');
    await publish('after');
    expect(frames).toEqual([]);
    expect(hub.stats()).toMatchObject({ connections: 0, rooms: 0, joining: 0 });
    await engine.close();
  });
});

describe('ConnectionHub: a member whose rejoin replayed what the feed had not delivered yet', () => {
  const publication = (seq: string, text: string): Publication => ({ kind: 'publication', room: ROOM, seq, event: 'notification', body: JSON.stringify({ text }), publishedAtMs: Date.now() });

  /**
   * A member of its personal room rejoins with `since`, and its read (HistoryResult.aheadOfFeed)
   * replays `texts`, the positions after `since` the feed has not delivered yet.
   */
  async function rejoinedAheadOfFeed(texts: string[]) {
    const member = await memberOfPersonalRoom();
    const since = await member.publish('seen');
    member.frames.length = 0;
    const { epoch, position } = parseSeq(since)!;
    const read: HistoryResult = { latestSeq: formatSeq(epoch, position + texts.length), recovered: true, publications: texts.map((text, index) => publication(formatSeq(epoch, position + 1 + index), text)), aheadOfFeed: true };
    jest.spyOn(member.engine.broker, 'historyNow').mockReturnValue(undefined);
    jest.spyOn(member.engine.broker, 'history').mockResolvedValueOnce(read);
    await member.hub.enter(member.connection, ROOM, { readHistory: true, since }, () => undefined);
    const deliver = (delivery: Delivery) => (member.hub as unknown as { deliver(delivery: Delivery): void }).deliver(delivery);
    return { ...member, deliver };
  }

  it('is not sent those publications again as they arrive, nor a later one of the life it left, and gets all that follows', async () => {
    const { engine, hub, publish, sent, deliver } = await rejoinedAheadOfFeed(['two', 'three']);
    expect(sent()).toEqual(['two', 'three']);
    expect(hub.stats().replayedAhead).toBe(1);
    // The feed delivers them now, and a deposed primary's late write of an earlier life between them.
    await publish('two');
    deliver(publication(formatSeq('000000000000', 7), 'late'));
    await publish('three');
    expect(sent()).toEqual(['two', 'three']);
    await publish('four');
    expect(sent()).toEqual(['two', 'three', 'four']);
    expect(hub.stats().replayedAhead).toBe(0);
    await engine.close();
  });

  it('is told to recover first when the room goes on in a later life before the feed reached what it replayed (a deposed primary answered its read)', async () => {
    const { engine, hub, sent, deliver } = await rejoinedAheadOfFeed(['one', 'two']);
    expect(sent()).toEqual(['one', 'two']);
    // The feed crosses into a later life from before them (the promoted server never had them),
    // which carries one again: the retry of a publish the deposed primary answered 503.
    const later = 'zzzzzzzzzzzz';
    deliver(publication(formatSeq(later, 1), 'one'));
    expect(sent()).toEqual(['one', 'two', `recovery ${formatSeq(later, 0)}`, 'one']);
    expect(hub.stats().replayedAhead).toBe(0);
    deliver(publication(formatSeq(later, 2), 'three'));
    expect(sent()).toEqual(['one', 'two', `recovery ${formatSeq(later, 0)}`, 'one', 'three']);
    await engine.close();
  });

  it('is told nothing when the feed reached what it replayed before the room went on in a later life', async () => {
    const { engine, publish, sent, deliver } = await rejoinedAheadOfFeed(['one']);
    await publish('one');
    deliver(publication(formatSeq('zzzzzzzzzzzz', 1), 'two'));
    expect(sent()).toEqual(['one', 'two']);
    await engine.close();
  });

  it('holds nothing back from the room\'s other members', async () => {
    const { engine, hub, connection, frames, publish, sent } = await memberOfPersonalRoom();
    const otherFrames: string[] = [];
    const otherSocket = { readyState: 1, bufferedAmount: 0, send: jest.fn(), close: jest.fn() } as unknown as WebSocket;
    const other = new Connection('c2', otherSocket, { user: 'ann', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
    jest.spyOn(other, 'send').mockImplementation((frame) => (otherFrames.push((frame as PreparedFrame).payload.toString()), true));
    hub.add(other);
    await hub.enter(other, ROOM, { readHistory: false }, () => undefined);
    const since = await publish('seen');
    frames.length = 0;
    otherFrames.length = 0;
    const { epoch, position } = parseSeq(since)!;
    jest.spyOn(engine.broker, 'historyNow').mockReturnValue(undefined);
    jest.spyOn(engine.broker, 'history').mockResolvedValueOnce({ latestSeq: formatSeq(epoch, position + 1), recovered: true, publications: [], aheadOfFeed: true });
    await hub.enter(connection, ROOM, { readHistory: true, since }, () => undefined);
    await publish('two');
    await publish('three');
    expect(sent()).toEqual(['three']);
    expect(otherFrames.map((frame) => JSON.parse(frame).data.text)).toEqual(['two', 'three']);
    await engine.close();
  });

  it('gets everything after a recovery, and nothing is kept for it once it leaves', async () => {
    const { engine, hub, connection, frames, publish, sent } = await memberOfPersonalRoom();
    const since = await publish('seen');
    frames.length = 0;
    const { epoch, position } = parseSeq(since)!;
    jest.spyOn(engine.broker, 'historyNow').mockReturnValue(undefined);
    jest.spyOn(engine.broker, 'history').mockResolvedValue({ latestSeq: formatSeq(epoch, position + 1), recovered: true, publications: [], aheadOfFeed: true });
    await hub.enter(connection, ROOM, { readHistory: true, since }, () => undefined);
    (hub as unknown as { deliver(delivery: Delivery): void }).deliver({ kind: 'gap', room: ROOM, latestSeq: since });
    expect(hub.stats().replayedAhead).toBe(0);
    await publish('after the recovery');
    expect(sent().at(-1)).toBe('after the recovery');
    await hub.enter(connection, 'public:lobby', { readHistory: true, since: formatSeq(epoch, 0) }, () => undefined);
    expect(hub.stats().replayedAhead).toBe(1);
    hub.remove(connection);
    expect(hub.stats().replayedAhead).toBe(0);
    await engine.close();
  });
});

describe('ConnectionHub: a connection removed', () => {
  it('is no longer found by its socket (the socket holds it until remove)', async () => {
    const { engine, hub, connection } = await memberOfPersonalRoom();
    expect(hub.connectionFor(connection.socket)).toBe(connection);
    hub.remove(connection);
    expect(hub.connectionFor(connection.socket)).toBeUndefined();
    // Safe to call twice, as a close after a failed admission does.
    expect(hub.remove(connection)).toEqual([]);
    expect(hub.connectionFor(connection.socket)).toBeUndefined();
    await engine.close();
  });
  it('drops its buffers of joins under way, and only its own, whatever other joins wait', async () => {
    const { engine, hub, connection, publish } = await memberOfPersonalRoom();
    const other = new Connection('c2', connection.socket, { user: 'bob', name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
    hub.add(other);
    const since = await publish('seen');
    // Every history read waits until the test answers it, as a slow Redis does.
    const answers: Array<() => void> = [];
    const real = engine.broker.history.bind(engine.broker);
    jest.spyOn(engine.broker, 'historyNow').mockReturnValue(undefined);
    jest.spyOn(engine.broker, 'history').mockImplementation((room, at) => new Promise<HistoryResult>((resolve) => answers.push(() => resolve(real(room, at)))));
    const joins = ['doc:1', 'doc:2', 'doc:3'].map((room) => hub.enter(connection, room, { readHistory: true }, () => undefined));
    // A held member (its personal room, rejoined with since) has a buffer too.
    joins.push(hub.enter(connection, ROOM, { readHistory: true, since }, () => undefined) as Promise<never>);
    const othersJoin = hub.enter(other, 'doc:1', { readHistory: true }, () => undefined);
    for (let turns = 0; answers.length < 5 && turns < 100; turns++) await new Promise(setImmediate);
    expect(answers).toHaveLength(5);
    expect(hub.stats()).toMatchObject({ joining: 4, buffering: 2 });
    hub.remove(connection);
    expect(hub.stats()).toMatchObject({ joining: 1, buffering: 1 });
    expect(hub.isJoining(other, 'doc:1')).toBe(true);
    for (const answer of answers) answer();
    await expect(Promise.all(joins)).resolves.toEqual(['connection_closed', 'connection_closed', 'connection_closed', 'connection_closed']);
    await expect(othersJoin).resolves.toBe('entered');
    expect(hub.stats()).toMatchObject({ joining: 0, buffering: 0 });
    await engine.close();
  });
});

describe('ConnectionHub: what its members were told of presence', () => {
  it('records presence frames delivered to a room with members here, and forgets the room with its last member', async () => {
    const { engine, hub, connection, frames } = await memberOfPersonalRoom();
    await hub.enter(connection, 'public:chat', { readHistory: false }, () => undefined);
    const presence = (user: string, status: 'joined' | 'left') => JSON.stringify({ event: 'presence', data: { room: 'public:chat', user, status, timestamp: 'now' } });
    await engine.broker.broadcast('public:chat', presence('bob', 'joined'), 'bob');
    await engine.broker.broadcast('public:elsewhere', JSON.stringify({ event: 'presence', data: { room: 'public:elsewhere', user: 'cy', status: 'joined', timestamp: 'now' } }), 'cy');
    await new Promise((resolve) => setImmediate(resolve));
    expect(hub.toldPresence.snapshot()).toEqual([['public:chat', ['bob']]]);
    // A correction made here reaches the members here, and is recorded as any presence frame.
    hub.tellHere('public:chat', 'bob', presence('bob', 'left'));
    expect(frames.at(-1)).toBe(presence('bob', 'left'));
    expect(hub.toldPresence.rooms).toBe(0);
    await engine.broker.broadcast('public:chat', presence('dan', 'joined'), 'dan');
    await new Promise((resolve) => setImmediate(resolve));
    expect(hub.toldPresence.rooms).toBe(1);
    hub.leave(connection, 'public:chat');
    expect(hub.toldPresence.rooms).toBe(0);
    await engine.close();
  });
});

describe('ConnectionHub gauges', () => {
  it('reports its connections and rooms with members when metrics are scraped', async () => {
    const engine = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    const metrics = new MetricsService();
    const hub = new ConnectionHub(engine.broker, metrics);
    const stream = { writableCorked: 0, cork: () => stream.writableCorked++, uncork: () => stream.writableCorked-- };
    const socket = (): WebSocket => ({ readyState: 1, bufferedAmount: 0, _socket: stream, _sender: { _state: 0, _queue: [], sendFrame: () => true }, send: jest.fn(), close: jest.fn() }) as unknown as WebSocket;
    const connect = async (id: string, user: string) => {
      const connection = new Connection(id, socket(), { user, name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
      hub.add(connection);
      await hub.enter(connection, `user:${user}`, { readHistory: false }, () => undefined);
      return connection;
    };
    const gauges = async () => {
      const text = await metrics.scrape();
      return [/^herald_connections (\d+)$/m.exec(text)?.[1], /^herald_rooms (\d+)$/m.exec(text)?.[1]];
    };
    const ann = await connect('c1', 'ann');
    const bob = await connect('c2', 'bob');
    await hub.enter(ann, 'public:lobby', { readHistory: false }, () => undefined);
    await hub.enter(bob, 'public:lobby', { readHistory: false }, () => undefined);
    expect(await gauges()).toEqual(['2', '3']);
    hub.remove(ann);
    expect(await gauges()).toEqual(['1', '2']);
    hub.remove(bob);
    expect(await gauges()).toEqual(['0', '0']);
  });
});

describe('ConnectionHub: writing a broadcast', () => {
  let engine: MemoryEngine | undefined;
  afterEach(async () => {
    // Even when an expectation failed: the clock mock and the engine would outlive the test.
    jest.restoreAllMocks();
    await engine?.close();
    engine = undefined;
  });

  /** A hub with `count` members of public:big whose sockets log each frame handed over and each write call (an uncork). */
  async function bigRoom(count: number) {
    const created = new MemoryEngine({ historySize: 10, historyTtlS: 60, inboxSize: 10, inboxTtlMs: 86_400_000 });
    engine = created;
    const hub = new ConnectionHub(created.broker, new MetricsService());
    const log: string[] = [];
    for (let index = 0; index < count; index++) {
      const stream = { writableCorked: 0, cork: () => void stream.writableCorked++, uncork: () => void (--stream.writableCorked === 0 && log.push(`write ${index}`)) };
      const sender = { _state: 0, _queue: [], sendFrame: () => log.push(`frame ${index}`) };
      const socket = { readyState: 1, bufferedAmount: 0, _socket: stream, _sender: sender, send: jest.fn(), close: jest.fn() } as unknown as WebSocket;
      const connection = new Connection(`c${index}`, socket, { user: `u${index}`, name: undefined, roomPatterns: [], scopes: [], expiresAtMs: null }, 1 << 20, 100, Date.now());
      connection.open();
      hub.add(connection);
      await hub.enter(connection, 'public:big', { readHistory: false }, () => undefined);
    }
    log.length = 0;
    return { broker: created.broker, log };
  }

  it("writes the first members' frames while it goes through the others after a pause, and the turn's later broadcasts at its end", async () => {
    const { broker, log } = await bigRoom(300);
    // A pause after the joins' turns.
    await new Promise((resolve) => setImmediate(resolve));
    const later = performance.now() + 1000;
    jest.spyOn(performance, 'now').mockReturnValue(later);
    await broker.publish('public:big', 'notification', { text: 'first' });
    // Sent by the end of the publish's turn, in batches: the first member's write goes before
    // the last member's frame is even handed over.
    expect(log.filter((entry) => entry.startsWith('write'))).toHaveLength(300);
    expect(log.indexOf('write 0')).toBeLessThan(log.indexOf('frame 299'));
    log.length = 0;
    // A second broadcast in the same turn waits for the turn's end: one write per socket for all of them.
    await broker.publish('public:big', 'notification', { text: 'second' });
    expect(log.filter((entry) => entry.startsWith('write'))).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.filter((entry) => entry.startsWith('write'))).toHaveLength(300);
  });
});
