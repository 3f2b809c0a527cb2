import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Broker } from '../../src/broker/broker';
import { MetricsService } from '../../src/metrics/metrics.service';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { startedTogether } from '../support/started-together';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { rawUpgrade } from '../support/raw-upgrade';
import { connectClient, TestClient } from '../support/ws-client';

describe('liveness', () => {
  let app: TestApp;
  // Short enough for a quick suite, long enough that a busy machine (a client that reads its
  // ping late) is not taken for a silent peer: the limit is 2 x HEARTBEAT_MS. At 600 ms, a client
  // process starved on a machine under load was dropped (1.2 s without its pong).
  const HEARTBEAT_MS = 1000;
  beforeAll(async () => (app = await createTestApp({ HEARTBEAT_MS: String(HEARTBEAT_MS) })));
  afterAll(() => app.close());

  describe('side by side', () => {
    // Each case waits on a few heartbeats: they start together, so those waits overlap instead of
    // adding up, and each test checks its own case. One that counts the pod's connections or slows
    // its broker has a pod of its own.
    const cases = startedTogether({
      protocolPongs: async () => {
        // In another process (see spawnTalker): one that stalls with the pod reads the ping late.
        const quiet = spawnTalker(app.wsUrl, signToken({ sub: 'quiet' }), 'answers protocol pings');
        try {
          await quiet.saw('welcome');
          await eventually(() => expect({ frames: quiet.count('ping') >= 2, protocol: quiet.count('protocol-ping') >= 2 }).toEqual({ frames: true, protocol: true }), 8_000);
          // Two heartbeats, the silence limit: its protocol pongs kept it.
          expect(quiet.closed()).toBeUndefined();
        } finally {
          quiet.stop();
        }
      },
      silent: async () => {
        const own = await createTestApp({ HEARTBEAT_MS: String(HEARTBEAT_MS) });
        try {
          // The answering one in a process of its own (see spawnTalker).
          const alive = spawnTalker(own.wsUrl, signToken({ sub: 'alive' }));
          try {
            await alive.saw('welcome');
            const silent = await connectClient(own.wsUrl, signToken({ sub: 'silent' }), { autoPong: false });
            const closed = await silent.closed;
            expect(closed.code).toBe(1006); // terminated: no close frame for a dead peer
            expect(alive.closed()).toBeUndefined();
            // Cleaned up everywhere: only the live client is left.
            await eventually(() => expect(own.app.get(ConnectionHub).stats()).toMatchObject({ connections: 1, users: 1 }));
          } finally {
            alive.stop();
          }
        } finally {
          await own.close();
        }
      },
      fragments: async () => {
        // A text message begun and never finished, a fragment every 300 ms, no ping answered:
        // judged on whole messages, it is silent (docs/protocol.md, section 3).
        const trickler = rawUpgrade(app.wsUrl, { token: signToken({ sub: 'trickler' }) });
        const fragment = (opcode: number, payload: string) => {
          const mask = Buffer.from([1, 2, 3, 4]);
          const body = Buffer.from(Buffer.from(payload).map((byte, index) => byte ^ mask[index % 4]));
          return Buffer.concat([Buffer.from([opcode, 0x80 | body.length]), mask, body]);
        };
        trickler.write(fragment(0x1, '{"event":'));
        const trickle = setInterval(() => trickler.write(fragment(0x0, ' ')), 300);
        try {
          const received = await trickler.closed;
          expect(received).toMatch(/^HTTP\/1\.1 101 /);
          // Terminated, as a dead peer is: no close frame (opcode 8) after the welcome.
          expect(received.slice(received.indexOf('welcome'))).not.toContain('\x88');
        } finally {
          clearInterval(trickle);
        }
      },
      welcomeFirst: async () => {
        const own = await createTestApp({ HEARTBEAT_MS: String(HEARTBEAT_MS) });
        try {
          const broker = own.app.get(Broker);
          const subscribe = broker.subscribe.bind(broker);
          // A slow broker: subscribing the personal room spans several heartbeats.
          const slow = jest.spyOn(broker, 'subscribe').mockImplementation(async (...args) => {
            await new Promise((resolve) => setTimeout(resolve, 3.5 * HEARTBEAT_MS));
            return subscribe(...args);
          });
          // Every subscribe makes that round trip, even where the broker could subscribe at once.
          const roundTrip = jest.spyOn(broker, 'subscribeNow').mockReturnValue(false);
          // In another process (see spawnTalker), answering protocol pings only.
          const patient = spawnTalker(own.wsUrl, signToken({ sub: 'patient' }), 'answers protocol pings');
          try {
            await patient.saw('welcome');
            // Nothing came before welcome, not even a protocol ping.
            expect(patient.events()[0]).toBe('welcome');
            // Nor was its admission counted as silence: it lives on past the next sweeps.
            await eventually(() => expect(patient.count('ping')).toBeGreaterThanOrEqual(2), 8_000);
            expect(patient.closed()).toBeUndefined();
            expect(slow).toHaveBeenCalled();
          } finally {
            patient.stop();
            slow.mockRestore();
            roundTrip.mockRestore();
          }
        } finally {
          await own.close();
        }
      },
      pongFrames: async () => {
        // In another process: in this one, a stall of the process (a busy machine) held its answers
        // as long as the pod's judging, and a 1006 came of it in a CI run.
        const framer = spawnTalker(app.wsUrl, signToken({ sub: 'framer' }), 'answers pings');
        try {
          // Four heartbeats, twice the silence limit: a protocol-deaf client is still open.
          // Most of the test's 30 s: the talker is a process of its own, slow to start on a busy machine.
          await eventually(() => expect(framer.count('ping')).toBeGreaterThanOrEqual(4), 25_000);
          expect(framer.closed()).toBeUndefined();
        } finally {
          framer.stop();
        }
      },
    });

    it('sends a protocol ping and a ping frame every heartbeat, and keeps a client that answers protocol pings only', cases.protocolPongs);
    it('keeps a client that answers and terminates one silent for 2 x heartbeatMs', cases.silent);
    it('terminates a client that trickles fragments of a message it never finishes and answers no ping', cases.fragments);
    it('sends welcome first even when a heartbeat falls while the connection is being admitted', cases.welcomeFirst);
    it('keeps a client alive that answers with pong frames instead of protocol pongs', cases.pongFrames);
  });

  it.each([
    // In another process, so it goes on sending while this one (the pod) is stalled.
    ['a client that kept talking', 'talks', 'ping'],
    // Says nothing but its protocol pongs: during the stall it had no ping to answer.
    ['an idle client, which only answers protocol pings,', 'answers protocol pings', 'protocol-ping'],
  ] as const)('keeps %s while the pod itself stalled past the silence limit', async (_client, mode, pingEvent) => {
    const client = spawnTalker(app.wsUrl, signToken({ sub: `through-a-stall-${pingEvent}` }), mode);
    try {
      await client.saw('welcome');
      await eventually(() => expect(client.count(pingEvent)).toBeGreaterThanOrEqual(1), 8_000);
      await stallThisProcess(2.5 * HEARTBEAT_MS);
      const pingsBefore = client.count(pingEvent);
      // Pinged twice more after the stall (so judged on several sweeps), and still connected.
      await eventually(() => expect(client.count(pingEvent)).toBeGreaterThanOrEqual(pingsBefore + 2), 8_000);
      expect(client.closed()).toBeUndefined();
    } finally {
      client.stop();
    }
  });
});

describe('rate limit', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ RATE_LIMIT_PER_S: '5' })));
  afterAll(() => app.close());

  it('answers rate_limited past the burst, then serves again after a pause', async () => {
    const client = await connectClient(app.wsUrl, signToken());
    for (let i = 0; i < 12; i++) client.send({ event: 'ping', id: i });
    await eventually(() => expect(client.frames.filter((frame) => frame.id !== undefined)).toHaveLength(12));
    const replies = client.frames.filter((frame) => frame.id !== undefined).sort((a, b) => Number(a.id) - Number(b.id));
    expect(replies.slice(0, 10).every((frame) => frame.event === 'pong')).toBe(true);
    expect(replies.slice(10)).toEqual([
      { event: 'error', data: { code: 'rate_limited', message: expect.any(String), event: 'ping' }, id: 10 },
      { event: 'error', data: { code: 'rate_limited', message: expect.any(String), event: 'ping' }, id: 11 },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await client.request('ping')).event).toBe('pong');
    await client.close();
  });

  it('closes with 4029 a connection that keeps going', async () => {
    const client = await connectClient(app.wsUrl, signToken());
    for (let i = 0; i < 30; i++) client.send({ event: 'ping' });
    expect(await client.closed).toEqual({ code: 4029, reason: 'rate_limited' });
  });

  it('answers every frame it took before closing with 4029, though they arrived with the flood', async () => {
    const client = await connectClient(app.wsUrl, signToken());
    // One write: the frames within the limit and those past it reach the pod in one read.
    const flood = Array.from({ length: 60 }, (_, id) => ({ event: 'ping', id }));
    tcpSocketOf(client).cork();
    for (const frame of flood) client.send(frame);
    tcpSocketOf(client).uncork();
    expect(await client.closed).toEqual({ code: 4029, reason: 'rate_limited' });
    const replies = client.frames.filter((frame) => frame.id !== undefined);
    const answered = new Set(replies.map((frame) => frame.id));
    const pongs = replies.filter((frame) => frame.event === 'pong').length;
    const refused = replies.filter((frame) => frame.event === 'error' && (frame.data as { code: string }).code === 'rate_limited').length;
    // The burst (2 x RATE_LIMIT_PER_S) was taken and answered, then refusals until the close.
    expect(pongs).toBeGreaterThanOrEqual(10);
    expect(refused).toBeGreaterThanOrEqual(10);
    // Every frame before the first one left unanswered got its reply.
    const firstUnanswered = flood.findIndex(({ id }) => !answered.has(id));
    expect(firstUnanswered).toBe(pongs + refused);
  });
});

/**
 * The send-buffer limit of the tests below, with 100 KB messages. It is over twice one message: a
 * healthy reader has at most one message in flight, and on a loaded machine loopback's kernel
 * buffers may take only part of it at once, leaving the rest in user space. With a limit under one
 * message (64 KB, earlier), the heartbeat's ping, which checks the limit, now and then came in that
 * window and closed the healthy reader as a slow consumer.
 */
const BIG_MESSAGE_LIMITS = { SEND_BUFFER_LIMIT_BYTES: '262144', MAX_PUBLISH_BYTES: '200000' };

describe('slow consumer', () => {
  it('closes with 4008 a connection whose send buffer passes SEND_BUFFER_LIMIT_BYTES', async () => {
    const app = await createTestApp(BIG_MESSAGE_LIMITS);
    try {
      const reader = await connectClient(app.wsUrl, signToken({ sub: 'reader' }));
      const stalled = await connectClient(app.wsUrl, signToken({ sub: 'stalled' }));
      await Promise.all([reader.join('public:firehose'), stalled.join('public:firehose')]);
      // The reader has each notification before the next is sent: a healthy reader, however busy
      // the machine (it shares this process with the pod, and a stall of it let 100 KB frames pile
      // up past the limit on a loaded machine, so the reader was closed too).
      const published = await stallUntilClosing(app, stalled, 'stalled', 'public:firehose', (count) => hasReceived(reader, count));
      tcpSocketOf(stalled).resume();
      expect(await stalled.closed).toEqual({ code: 4008, reason: 'slow_consumer' });
      // The healthy reader is unaffected, and has them all.
      expect(reader.closeInfo).toBeUndefined();
      expect(reader.all('notification')).toHaveLength(published);
      await reader.close();
    } finally {
      await app.close();
    }
  });
});

describe('a burst past SEND_BUFFER_LIMIT_BYTES', () => {
  it("reaches a client that reads as it comes, without a 4008: what one turn writes is not the client's backlog", async () => {
    const app = await createTestApp(BIG_MESSAGE_LIMITS);
    try {
      // In a process of its own, reading as the kernel hands it frames, as a browser does.
      const reader = spawnTalker(app.wsUrl, signToken({ sub: 'burst-reader' }), 'talks', 'public:burst');
      try {
        await reader.saw('joined');
        // One batch of nine 40 KB notifications broadcast in one turn: the first leaves as it is
        // sent (sendBroadcast), those after it wait corked for the turn's end, and the ninth finds
        // seven (280 KB) there, past the 256 KB limit. Spread over turns on a loaded machine, each
        // turn's would have left at its end: loopback's kernel buffers take megabytes at once.
        const notifications = Array.from({ length: 9 }, (_, i) => ({ rooms: ['public:burst'], type: `burst${i}`, payload: { blob: 'x'.repeat(40_000) } }));
        expect((await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), body: { notifications } })).status).toBe(200);
        await eventually(() => expect(reader.count('notification')).toBe(9), 20_000);
        expect(reader.closed()).toBeUndefined();
      } finally {
        reader.stop();
      }
    } finally {
      await app.close();
    }
  });
});

describe('a rejoin\'s replay', () => {
  it('is sent whole past SEND_BUFFER_LIMIT_BYTES to a client that reads slowly, and the limit holds again once it drained', async () => {
    const app = await createTestApp(BIG_MESSAGE_LIMITS);
    try {
      const { reader, since } = await sixMegabytesOfHistory(app, 'public:archive');

      const rejoining = await connectClient(app.wsUrl, signToken({ sub: 'rejoining' }));
      const socket = tcpSocketOf(rejoining);
      // Reads nothing until the whole replay was queued, as a client on a slow network would.
      socket.pause();
      const joining = rejoining.request('join', { room: 'public:archive', since }, 15_000);
      await eventually(async () => expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('herald_history_replays_total{outcome="recovered"} 1'));
      socket.resume();
      expect((await joining).data).toEqual({ room: 'public:archive', seq: reader.all('notification')[59].data.seq, recovered: true, missed: 59 });
      await eventually(() => expect(rejoining.all('notification').map((frame) => (frame.data.payload as { i: number }).i)).toEqual(Array.from({ length: 59 }, (_, i) => i + 1)), 10_000);
      expect(rejoining.closeInfo).toBeUndefined();

      // Caught up, it has no allowance left: stalled under live traffic, it is a slow consumer.
      await stallUntilClosing(app, rejoining, 'rejoining', 'public:archive');
      socket.resume();
      expect(await rejoining.closed).toEqual({ code: 4008, reason: 'slow_consumer' });
      await reader.close();
    } finally {
      await app.close();
    }
  });
});

describe('a replay nobody reads', () => {
  it('is allowed past SEND_BUFFER_LIMIT_BYTES for 2 x HEARTBEAT_MS only: a client that never reads it is closed with 4008', async () => {
    const HEARTBEAT_MS = 1000;
    // CLOSE_TIMEOUT_MS short: the hostage cannot read its 4008 either, and is dropped after it.
    const app = await createTestApp({ ...BIG_MESSAGE_LIMITS, HEARTBEAT_MS: String(HEARTBEAT_MS), CLOSE_TIMEOUT_MS: '300' });
    let keepAlive: NodeJS.Timeout | undefined;
    try {
      const { reader, since } = await sixMegabytesOfHistory(app, 'public:hostage');

      const hostage = await connectClient(app.wsUrl, signToken({ sub: 'hostage' }));
      // Never reads again, but writes: it answers the heartbeat blind, so liveness keeps it.
      tcpSocketOf(hostage).pause();
      keepAlive = setInterval(() => hostage.send({ event: 'pong' }), HEARTBEAT_MS / 4);
      hostage.send({ event: 'join', data: { room: 'public:hostage', since }, id: 'j' });
      const hub = app.app.get(ConnectionHub);
      const hostageConnection = () => [...hub.all()].find((connection) => connection.user === 'hostage');
      await eventually(async () => expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('herald_history_replays_total{outcome="recovered"} 1'));
      // Closed once the drain time is over, at the heartbeat's next ping; never before the replay was queued.
      await eventually(() => expect(hostageConnection()?.state ?? 'closing').toBe('closing'), 10 * HEARTBEAT_MS);
      // It cannot read the close frame either: it is dropped after CLOSE_TIMEOUT_MS, counted as this pod's 4008.
      await hostage.closed;
      await eventually(async () => expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^herald_slow_consumer_closes_total 1$/m));
      expect(reader.closeInfo).toBeUndefined();
      await reader.close();
    } finally {
      clearInterval(keepAlive);
      await app.close();
    }
  });
});

describe('close timeout', () => {
  it('drops a slow consumer that cannot read its 4008 after CLOSE_TIMEOUT_MS, freeing its buffer and its place', async () => {
    const app = await createTestApp({ ...BIG_MESSAGE_LIMITS, CLOSE_TIMEOUT_MS: '300', HEARTBEAT_MS: '60000' });
    try {
      const stalled = await connectClient(app.wsUrl, signToken({ sub: 'stalled' }));
      await stalled.join('public:stalled');
      const presence = async () => (await http('GET', `${app.url}/v1/rooms/public:stalled/presence`, { token: publisherToken() })).body;
      expect(await presence()).toMatchObject({ users: ['stalled'], connections: 1 });
      // Never reads again: the 4008 close frame stays queued behind megabytes it will not read.
      await stallUntilClosing(app, stalled, 'stalled', 'public:stalled');
      // Without the timeout ws would hold the socket for 30 s (and the heartbeat, at 60 s, is no help).
      await eventually(async () => expect(await presence()).toMatchObject({ users: [], connections: 0 }), 3000);
      // Counted as what the pod did, though the peer never echoed a code (its close event says 1006).
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(metrics).toContain('herald_slow_consumer_closes_total 1');
      expect(metrics).toContain('herald_close_codes_total{code="4008"} 1');
      expect(metrics).not.toContain('herald_close_codes_total{code="1006"}');
      stalled.terminate();
    } finally {
      await app.close();
    }
  });
});

describe('a slow consumer\'s departure', () => {
  it('is told, counted and its place freed when its 4008 is sent, not when its socket closes up to CLOSE_TIMEOUT_MS later', async () => {
    // A minute for the close frame: everything below must happen while the socket is still open.
    const app = await createTestApp({ ...BIG_MESSAGE_LIMITS, CLOSE_TIMEOUT_MS: '60000', HEARTBEAT_MS: '60000', MAX_CONNECTIONS_PER_USER: '1' });
    try {
      const watcher = await connectClient(app.wsUrl, signToken({ sub: 'watcher' }));
      const stalled = await connectClient(app.wsUrl, signToken({ sub: 'stalled' }));
      await watcher.join('public:departures');
      await stalled.join('public:departures');
      await eventually(() => expect(watcher.all('presence').map((frame) => frame.data)).toMatchObject([{ user: 'stalled', status: 'joined' }]));
      const presence = async () => (await http('GET', `${app.url}/v1/rooms/public:departures/presence`, { token: publisherToken() })).body;
      await stallUntilClosing(app, stalled, 'stalled', 'public:departures');
      await eventually(() => expect(watcher.all('presence').map((frame) => frame.data)).toMatchObject([{ user: 'stalled', status: 'joined' }, { user: 'stalled', status: 'left' }]));
      expect(await presence()).toMatchObject({ users: ['watcher'], connections: 1 });
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(metrics).toMatch(/^herald_slow_consumer_closes_total 1$/m);
      expect(metrics).toMatch(/^herald_close_codes_total\{code="4008"\} 1$/m);
      // Its place under MAX_CONNECTIONS_PER_USER is free: the user can come back at once.
      const back = await connectClient(app.wsUrl, signToken({ sub: 'stalled' }));
      expect(back.closeInfo).toBeUndefined();
      // All the while, its socket was open: the client has not read its 4008 yet.
      expect(stalled.closeInfo).toBeUndefined();
      tcpSocketOf(stalled).resume();
      expect(await stalled.closed).toEqual({ code: 4008, reason: 'slow_consumer' });
      // Counted once: its socket's close, when it came, counted nothing more.
      await back.close();
      await eventually(async () => expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^herald_close_codes_total\{code="1000"\} 1$/m));
      const after = await (await fetch(`${app.url}/metrics`)).text();
      expect(after).toMatch(/^herald_close_codes_total\{code="4008"\} 1$/m);
      expect(after).toMatch(/^herald_slow_consumer_closes_total 1$/m);
      await watcher.close();
    } finally {
      await app.close();
    }
  });
});

describe('a slow consumer given up on', () => {
  it('does not hold the pod\'s shutdown for CLOSE_TIMEOUT_MS, nor is counted again when the shutdown drops it', async () => {
    const app = await createTestApp({ ...BIG_MESSAGE_LIMITS, CLOSE_TIMEOUT_MS: '60000', HEARTBEAT_MS: '60000' });
    let stalled: TestClient | undefined;
    try {
      stalled = await connectClient(app.wsUrl, signToken({ sub: 'stalled' }));
      await stalled.join('public:shutdown');
      await stallUntilClosing(app, stalled, 'stalled', 'public:shutdown');
      await eventually(() => expect([...app.app.get(ConnectionHub).all()]).toHaveLength(0));
    } finally {
      const metrics = app.app.get(MetricsService);
      // Resolves once the HTTP server closed, which a socket left open would hold for a minute
      // (past the test's timeout): the pod drops it.
      await app.close();
      if (stalled) {
        tcpSocketOf(stalled).resume();
        expect((await stalled.closed).code).toBe(1006);
      }
      // Counted once, when it was given up: its socket's end at shutdown counts nothing more.
      expect((await metrics.slowConsumerCloses.get()).values.map((value) => value.value)).toEqual([1]);
    }
  });
});

describe('rooms per connection', () => {
  it('refuses joins past MAX_ROOMS_PER_CONNECTION, counting the personal room, and frees slots on leave', async () => {
    const app = await createTestApp({ MAX_ROOMS_PER_CONNECTION: '3' });
    try {
      const client = await connectClient(app.wsUrl, signToken({ rooms: ['chat:*'] }));
      await client.join('chat:1');
      await client.join('chat:2');
      const refused = await client.request('join', { room: 'chat:3' });
      expect(refused.data).toMatchObject({ code: 'forbidden', event: 'join' });
      // Re-joining a room it is already in is not a new room.
      expect((await client.request('join', { room: 'chat:2' })).event).toBe('joined');
      await client.request('leave', { room: 'chat:1' });
      expect((await client.request('join', { room: 'chat:3' })).event).toBe('joined');
      await client.close();
    } finally {
      await app.close();
    }
  });
});

/** The TCP socket under `client`'s WebSocket (ws keeps it private): paused, the client reads nothing more. */
function tcpSocketOf(client: TestClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

/**
 * Stops `stalled` reading (the kernel's buffers fill, then ws's in the pod) and publishes 100 KB
 * notifications to `room` until the pod closes `user`'s connection as a slow consumer, however
 * much loopback's kernel buffers absorb first. `afterPublish` runs after each one, with how many
 * were published so far. Returns how many were published in all.
 */
async function stallUntilClosing(app: TestApp, stalled: TestClient, user: string, room: string, afterPublish?: (published: number) => Promise<unknown>): Promise<number> {
  tcpSocketOf(stalled).pause();
  const blob = 'x'.repeat(100_000);
  let published = 0;
  while (!isClosing(app, user)) {
    if (published === 600) throw new Error('60 MB later, still not closed as a slow consumer');
    await publish(app.url, { rooms: [room], type: 'bulk', payload: { blob } });
    published++;
    await afterPublish?.(published);
  }
  return published;
}

/** Whether the pod closed `user`'s connection or is closing it (a slow consumer's 4008, here). */
function isClosing(app: TestApp, user: string): boolean {
  return ![...app.app.get(ConnectionHub).all()].some((connection) => connection.user === user && connection.state !== 'closing');
}

/** Waits until `reader` has `count` notifications, still open (a close shows in the failure). */
function hasReceived(reader: TestClient, count: number) {
  return eventually(() => expect({ closed: reader.closeInfo, notifications: reader.all('notification').length }).toEqual({ closed: undefined, notifications: count }), 10_000);
}

/**
 * 60 notifications of 100 KB in `room`, read by a member: 6 MB of history, more than loopback's
 * kernel buffers hold, so most of a replay of it waits in ws. `since` is the first one's seq.
 */
async function sixMegabytesOfHistory(app: TestApp, room: string) {
  const reader = await connectClient(app.wsUrl, signToken({ sub: 'reader' }));
  await reader.join(room);
  const blob = 'x'.repeat(100_000);
  // The reader has each notification before the next is sent (see 'slow consumer'): it stays a
  // healthy reader on a loaded machine, and is not closed as a slow consumer itself.
  for (let i = 0; i < 60; i++) {
    await publish(app.url, { rooms: [room], type: 'bulk', payload: { blob, i } });
    await hasReceived(reader, i + 1);
  }
  return { reader, since: reader.all('notification')[0].data.seq as string };
}

/**
 * Stalls this process (the pod's) for `ms`, as a long GC or a CPU throttled by its cgroup would,
 * from a setImmediate callback: the heartbeat's timer then comes before the poll phase that
 * reads what clients sent meanwhile.
 */
function stallThisProcess(ms: number): Promise<void> {
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      const until = Date.now() + ms;
      while (Date.now() < until);
      resolve();
    }),
  );
}

/**
 * A client in a process of its own, so a stall of this one (the pod's) does not stall it too: an
 * in-process client stalled with the pod read a ping late, and the pod took it for a silent peer
 * on a loaded machine. It reports on stdout the events it receives (a protocol ping as
 * `protocol-ping`) and how it closed. `talks`: sends a `pong` frame every 100 ms (and answers
 * protocol pings); `answers pings`: sends a `pong` frame for each `ping` frame and leaves protocol
 * pings unanswered; `answers protocol pings`: sends nothing, ws answers protocol pings. `room`: joined once open.
 */
function spawnTalker(wsUrl: string, token: string, mode: 'talks' | 'answers pings' | 'answers protocol pings' = 'talks', room = '') {
  const script = `
    const WebSocket = require('ws');
    const answersPings = process.argv[3] === 'answers pings';
    const socket = new WebSocket(process.argv[1], ['herald.v1', 'bearer.' + process.argv[2]], { autoPong: !answersPings });
    if (process.argv[3] === 'talks') socket.on('open', () => setInterval(() => socket.send('{"event":"pong"}'), 100));
    if (process.argv[4]) socket.on('open', () => socket.send(JSON.stringify({ event: 'join', data: { room: process.argv[4] } })));
    socket.on('ping', () => console.log('event protocol-ping'));
    socket.on('message', (data) => {
      const event = JSON.parse(data.toString()).event;
      if (answersPings && event === 'ping') socket.send('{"event":"pong"}');
      console.log('event ' + event);
    });
    socket.on('close', (code) => { console.log('closed ' + code); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['-e', script, wsUrl, token, mode, room], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const parts = text.split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  const count = (event: string) => lines.filter((line) => line === `event ${event}`).length;
  return {
    count,
    events: () => lines.filter((line) => line.startsWith('event ')).map((line) => line.slice('event '.length)),
    // Generous: a process of its own is slow to start on a busy machine (10 s were not enough in a run under load).
    saw: (event: string) => eventually(() => expect(count(event)).toBeGreaterThan(0), 20_000),
    closed: () => lines.find((line) => line.startsWith('closed ')),
    stop: () => child.kill('SIGKILL'),
  };
}
