import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { startedTogether } from '../support/started-together';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

const user = (sub: string) => signToken({ sub, rooms: ['chat:*'] });

describe.each(BROKER_KINDS)('presence (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), PRESENCE_EVENTS_MAX_USERS: '3' })));
  afterAll(() => app.close());

  it("announces a user's first join and last leave to the room's other users, once", async () => {
    const watcher = await connectClient(app.wsUrl, user('watcher'));
    await watcher.join('chat:presence');
    const tab1 = await connectClient(app.wsUrl, user('pat'));
    const tab2 = await connectClient(app.wsUrl, user('pat'));
    await tab1.join('chat:presence');
    await tab2.join('chat:presence');
    const joined = await watcher.next('presence');
    expect(joined.data).toEqual({ room: 'chat:presence', user: 'pat', status: 'joined', timestamp: expect.any(String) });

    await tab1.close();
    await tab2.request('leave', { room: 'chat:presence' });
    const left = await watcher.next('presence');
    expect(left.data).toMatchObject({ room: 'chat:presence', user: 'pat', status: 'left' });
    expect(watcher.all('presence')).toHaveLength(2);
    // A user never hears about its own tabs. (They may hear of the watcher's own join, announced
    // after the watcher's `joined` reply and so possibly still on its way when they joined.)
    expect([...tab1.all('presence'), ...tab2.all('presence')].filter((frame) => (frame.data as { user: string }).user === 'pat')).toEqual([]);
    await Promise.all([tab2.close(), watcher.close()]);
  });

  it('announces a leave when the last tab disconnects without leaving', async () => {
    const watcher = await connectClient(app.wsUrl, user('w2'));
    await watcher.join('chat:drop');
    const tab = await connectClient(app.wsUrl, user('quinn'));
    await tab.join('chat:drop');
    await watcher.next('presence');
    tab.terminate();
    expect((await watcher.next('presence')).data).toMatchObject({ user: 'quinn', status: 'left' });
    await watcher.close();
  });

  it('treats a second join of the same room as a no-op: one presence event, each message once', async () => {
    const watcher = await connectClient(app.wsUrl, user('watcher2'));
    await watcher.join('chat:twice');
    const twice = await connectClient(app.wsUrl, user('twice'));
    await twice.join('chat:twice');
    expect((await twice.join('chat:twice')).event).toBe('joined');
    await publish(app.url, { rooms: ['chat:twice'], type: 'once', payload: {} });
    await twice.next('notification');
    await watcher.next('notification');
    // A marker after it: by then a repeat would have arrived too.
    await publish(app.url, { rooms: ['chat:twice'], type: 'marker', payload: {} });
    await twice.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    await watcher.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    expect(twice.all('notification').map((frame) => frame.data.type)).toEqual(['once', 'marker']);
    expect(watcher.all('presence').filter((frame) => frame.data.user === 'twice').map((frame) => frame.data.status)).toEqual(['joined']);
    await Promise.all([watcher.close(), twice.close()]);
  });

  it('stays silent in rooms with more than PRESENCE_EVENTS_MAX_USERS users', async () => {
    const clients: TestClient[] = [];
    for (const sub of ['u1', 'u2', 'u3']) {
      const client = await connectClient(app.wsUrl, user(sub));
      await client.join('chat:big');
      clients.push(client);
    }
    // u1 saw u2 and u3 join (room sizes 2 and 3: within the limit).
    await eventually(() => expect(clients[0].all('presence').map((frame) => frame.data.user)).toEqual(['u2', 'u3']));
    const fourth = await connectClient(app.wsUrl, user('u4'));
    await fourth.join('chat:big'); // 4 users: over the limit, nobody hears it
    // The presence API still counts every user of the room.
    const counted = await http('GET', `${app.url}/v1/rooms/chat:big/presence`, { token: publisherToken() });
    expect({ ...counted.body, users: [...counted.body.users].sort() }).toEqual({ room: 'chat:big', users: ['u1', 'u2', 'u3', 'u4'], connections: 4 });
    await clients[1].request('ping');
    await fourth.close();
    const marker = await connectClient(app.wsUrl, user('marker'));
    await clients[0].request('ping');
    expect(clients[0].all('presence').map((frame) => frame.data.user)).toEqual(['u2', 'u3']);
    await Promise.all([...clients.map((client) => client.close()), marker.close()]);
  });
});

describe.each(BROKER_KINDS)('history and recovery (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), HISTORY_SIZE: '5' })));
  afterAll(() => app.close());

  const send = async (room: string, count: number, from = 0) => {
    for (let i = from; i < from + count; i++) expect((await publish(app.url, { rooms: [room], type: 'n', payload: { i } })).status).toBe(202);
  };

  it('replays exactly what came after since, in order, before newer messages', async () => {
    const room = `chat:recover-${kind}`;
    const first = await connectClient(app.wsUrl, user('rita'));
    await first.join(room);
    await send(room, 2);
    await eventually(() => expect(first.all('notification')).toHaveLength(2));
    const lastSeen = first.all('notification')[1].data.seq;
    await first.close();

    await send(room, 3, 2);
    const again = await connectClient(app.wsUrl, user('rita'));
    const joined = await again.request('join', { room, since: lastSeen });
    expect(joined.data).toEqual({ room, seq: expect.any(String), recovered: true, missed: 3 });
    await send(room, 1, 5);
    await eventually(() => expect(again.all('notification')).toHaveLength(4));
    expect(again.all('notification').map((frame) => frame.data.payload.i)).toEqual([2, 3, 4, 5]);
    // The replay comes right after the reply, before anything newer.
    const replyIndex = again.frames.findIndex((frame) => frame.event === 'joined');
    expect(again.frames.slice(replyIndex + 1, replyIndex + 4).map((frame) => frame.data.payload.i)).toEqual([2, 3, 4]);
    expect(joined.data.seq).toBe(again.all('notification')[2].data.seq);
    await again.close();
  });

  it('recovers what was published to a room that was empty when it was joined, once its last member left', async () => {
    const room = `chat:empty-${kind}`;
    const client = await connectClient(app.wsUrl, user('zoe'));
    const { data } = await client.join(room);
    expect(typeof data.seq).toBe('string');
    await client.request('leave', { room });
    await send(room, 3);
    const again = await connectClient(app.wsUrl, user('zed'));
    expect((await again.request('join', { room, since: data.seq })).data).toEqual({ room, seq: expect.any(String), recovered: true, missed: 3 });
    await eventually(() => expect(again.all('notification').map((frame) => frame.data.payload.i)).toEqual([0, 1, 2]));
    await Promise.all([client.close(), again.close()]);
  });

  it("keeps a message-less room's epoch when its last member disconnects: later joins hand out the same seq, and it recovers", async () => {
    const room = `chat:kept-${kind}`;
    const client = await connectClient(app.wsUrl, user('zia'));
    const { data } = await client.join(room);
    await client.close();
    // A new member, alone in the room again: the room's life went on.
    const probe = await connectClient(app.wsUrl, user('zia'));
    expect((await probe.join(room)).data.seq).toBe(data.seq);
    await probe.close();
    await send(room, 2);
    const again = await connectClient(app.wsUrl, user('zia'));
    expect((await again.request('join', { room, since: data.seq })).data).toMatchObject({ recovered: true, missed: 2 });
    await eventually(() => expect(again.all('notification').map((frame) => frame.data.payload.i)).toEqual([0, 1]));
    await again.close();
  });

  it('says recovered: true with nothing missed when since is the latest seq', async () => {
    const room = `chat:uptodate-${kind}`;
    await send(room, 1);
    const client = await connectClient(app.wsUrl, user('sam'));
    const { data } = await client.join(room);
    const again = await client.request('join', { room, since: data.seq });
    expect(again.data).toEqual({ room, seq: data.seq, recovered: true, missed: 0 });
    await client.close();
  });

  it('says recovered: false when the history was trimmed past since', async () => {
    const room = `chat:trimmed-${kind}`;
    await send(room, 1);
    const client = await connectClient(app.wsUrl, user('tess'));
    const { data } = await client.join(room);
    await client.request('leave', { room });
    await send(room, 6, 1); // HISTORY_SIZE is 5: the message right after `since` is gone
    const reply = await client.request('join', { room, since: data.seq });
    expect(reply.data).toEqual({ room, seq: expect.any(String), recovered: false });
    expect(client.all('notification')).toHaveLength(0);
    await client.close();
  });

  it('recovers when exactly HISTORY_SIZE messages were missed', async () => {
    const room = `chat:edge-${kind}`;
    await send(room, 1);
    const client = await connectClient(app.wsUrl, user('uma'));
    const { data } = await client.join(room);
    await client.request('leave', { room });
    await send(room, 5, 1);
    const reply = await client.request('join', { room, since: data.seq });
    expect(reply.data).toMatchObject({ recovered: true, missed: 5 });
    await eventually(() => expect(client.all('notification').map((frame) => frame.data.payload.i)).toEqual([1, 2, 3, 4, 5]));
    await client.close();
  });

  it.each(['garbage', '0-000000000001', ''])('says recovered: false for an unknown since %p', async (since) => {
    const room = `chat:unknown-${kind}`;
    await send(room, 1);
    const client = await connectClient(app.wsUrl, user('vic'));
    const reply = await client.request('join', { room, since });
    expect(reply.data).toMatchObject({ room, recovered: false });
    await client.close();
  });

  it('recovers personal notifications missed while away', async () => {
    const first = await connectClient(app.wsUrl, signToken({ sub: `wes-${kind}` }));
    await publish(app.url, { users: [`wes-${kind}`], type: 'n', payload: { i: 0 } });
    const seen = (await first.next('notification')).data.seq;
    await first.close();
    await publish(app.url, { users: [`wes-${kind}`], type: 'n', payload: { i: 1 } });
    const again = await connectClient(app.wsUrl, signToken({ sub: `wes-${kind}` }));
    const reply = await again.request('join', { room: `user:wes-${kind}`, since: seen });
    expect(reply.data).toMatchObject({ recovered: true, missed: 1 });
    expect((await again.next('notification')).data.payload).toEqual({ i: 1 });
    await again.close();
  });

  it('neither loses nor repeats a message when a join races live traffic', async () => {
    const room = `chat:race-${kind}`;
    await send(room, 1);
    const client = await connectClient(app.wsUrl, user('xena'));
    const { data } = await client.join(room);
    await client.request('leave', { room });
    const publishing = (async () => {
      for (let i = 1; i <= 30; i++) await publish(app.url, { rooms: [room], type: 'n', payload: { i } });
    })();
    await new Promise((resolve) => setTimeout(resolve, 15));
    const reply = await client.request('join', { room, since: data.seq });
    await publishing;
    // One more after the join was answered: it must arrive live, whenever the join landed among
    // the 30 (on a slow machine it may come after all of them, and then only this one arrives).
    await publish(app.url, { rooms: [room], type: 'n', payload: { i: 31 } });
    await eventually(() => expect(client.all('notification').at(-1)?.data.payload.i).toBe(31));
    const received = client.all('notification').map((frame) => frame.data.payload.i);
    if (reply.data.recovered) {
      expect(received).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    } else {
      // HISTORY_SIZE 5 may be outrun; what arrives live must still be gap-free and unrepeated.
      expect(received).toEqual(Array.from({ length: received.length }, (_, i) => 32 - received.length + i));
    }
    await client.close();
  });
});

describe.each(BROKER_KINDS)('history expiry (%s broker)', (kind) => {
  const broker = useBroker(kind);
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  let apps = 0;
  /**
   * An app of its own (on Redis, under a prefix of its own, the cases running side by side): each
   * case sets HISTORY_TTL_S, and waits on it (the only way to test time).
   */
  async function withApp(historyTtlS: number, test: (app: TestApp) => Promise<void>): Promise<void> {
    const app = await createTestApp({ ...broker.env(`ttl-${historyTtlS}-${apps++}`), HISTORY_TTL_S: String(historyTtlS) });
    try {
      await test(app);
    } finally {
      await app.close();
    }
  }

  // Each case waits out HISTORY_TTL_S and more: they start together, so those waits overlap instead
  // of adding up, and each test checks its own case. A describe of their own, so they have settled
  // before useBroker's afterAll stops the broker.
  describe('side by side', () => {
    const cases = startedTogether({
      expired: () =>
        withApp(1, async (app) => {
          await publish(app.url, { rooms: ['chat:ttl'], type: 'n', payload: {} });
          const client = await connectClient(app.wsUrl, user('yan'));
          const { data } = await client.join('chat:ttl');
          await client.request('leave', { room: 'chat:ttl' });
          await publish(app.url, { rooms: ['chat:ttl'], type: 'n', payload: {} });
          await wait(1100);
          const reply = await client.request('join', { room: 'chat:ttl', since: data.seq });
          expect(reply.data).toMatchObject({ recovered: false });
          await client.close();
        }),
      quietKept: () =>
        withApp(1, async (app) => {
          const stays = await connectClient(app.wsUrl, user('stays'));
          await stays.join('chat:lobby');
          await wait(2500);
          const client = await connectClient(app.wsUrl, user('visits'));
          const { data } = await client.join('chat:lobby');
          await client.request('leave', { room: 'chat:lobby' });
          await publish(app.url, { rooms: ['chat:lobby'], type: 'n', payload: { i: 0 } });
          // Once it reached the pod: a rejoin the pod answers from its own position would otherwise
          // say missed: 0 and deliver the message live right after (on Redis, on a busy machine).
          expect((await stays.next('notification')).data.payload).toEqual({ i: 0 });
          expect((await client.request('join', { room: 'chat:lobby', since: data.seq })).data).toMatchObject({ recovered: true, missed: 1 });
          expect((await client.next('notification')).data.payload).toEqual({ i: 0 });
          await Promise.all([client.close(), stays.close()]);
        }),
      countedFromEmptied: () =>
        // 4 s: two seconds of margin either way on a loaded machine, where the cases start together.
        withApp(4, async (app) => {
          const client = await connectClient(app.wsUrl, user('away'));
          await client.join('chat:emptied');
          await publish(app.url, { rooms: ['chat:emptied'], type: 'n', payload: { i: 0 } });
          const lastSeen = (await client.next('notification')).data.seq;
          await wait(3000);
          await client.request('leave', { room: 'chat:emptied' });
          await wait(2000); // past the TTL counted from the message, inside the one counted from the leave
          await publish(app.url, { rooms: ['chat:emptied'], type: 'n', payload: { i: 1 } });
          expect((await client.request('join', { room: 'chat:emptied', since: lastSeen })).data).toMatchObject({ recovered: true, missed: 1 });
          expect((await client.next('notification')).data.payload).toEqual({ i: 1 });
          await client.close();
        }),
    });

    it('says recovered: false once HISTORY_TTL_S has passed', cases.expired);
    it("keeps a quiet room's epoch while a member stays, however long past HISTORY_TTL_S", cases.quietKept);
    it('counts HISTORY_TTL_S from when the room emptied, not from its last message', cases.countedFromEmptied);
  });
});

describe.each(BROKER_KINDS)('frames sent without waiting for replies (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), MAX_ROOMS_PER_CONNECTION: '5' })));
  afterAll(() => app.close());

  /** Sends every frame at once, then waits for each one's reply (by id), in the order sent. */
  const pipeline = async (client: TestClient, frames: Array<{ event: string; data: unknown }>) => {
    frames.forEach((frame, i) => client.send({ ...frame, id: `p${i}` }));
    await eventually(() => expect(frames.every((_, i) => client.frames.some((frame) => frame.id === `p${i}`))).toBe(true));
    return frames.map((_, i) => client.frames.find((frame) => frame.id === `p${i}`)!);
  };

  it('applies a leave then a join of the same room in that order: the connection ends a member', async () => {
    const room = `chat:relay-${kind}-${Date.now()}`;
    const client = await connectClient(app.wsUrl, user('lena'));
    await client.join(room);
    const replies = await pipeline(client, [
      { event: 'leave', data: { room } },
      { event: 'join', data: { room } },
    ]);
    expect(replies.map((reply) => reply.event)).toEqual(['left', 'joined']);
    expect(await publish(app.url, { rooms: [room], type: 'n', payload: { after: 'rejoin' } })).toMatchObject({ status: 202 });
    await eventually(() => expect(client.all('notification').map((frame) => frame.data.payload)).toEqual([{ after: 'rejoin' }]));
    expect((await client.request('message', { room, text: 'still here' })).event).toBe('ack');
    await client.close();
  });

  it('answers a message sent right after its join, in a room the pod did not follow yet', async () => {
    const room = `chat:fresh-${kind}-${Date.now()}`;
    const client = await connectClient(app.wsUrl, user('mona'));
    const replies = await pipeline(client, [
      { event: 'join', data: { room } },
      { event: 'message', data: { room, text: 'first words' } },
    ]);
    expect(replies.map((reply) => reply.event)).toEqual(['joined', 'ack']);
    await client.waitFor((frame) => frame.event === 'message' && frame.data.text === 'first words');
    await client.close();
  });

  it('refuses a message that follows a leave, and accepts one that follows the rejoin', async () => {
    const room = `chat:churn-${kind}-${Date.now()}`;
    const client = await connectClient(app.wsUrl, user('nell'));
    await client.join(room);
    const replies = await pipeline(client, [
      { event: 'message', data: { room, text: 'one' } },
      { event: 'leave', data: { room } },
      { event: 'message', data: { room, text: 'two' } },
      { event: 'join', data: { room } },
      { event: 'message', data: { room, text: 'three' } },
    ]);
    expect(replies.map((reply) => (reply.event === 'error' ? reply.data.code : reply.event))).toEqual(['ack', 'left', 'not_member', 'joined', 'ack']);
    await client.close();
  });

  it('records presence for a join, leave and join sent together in that order: the room hears each, and the user ends present', async () => {
    const room = `chat:flicker-${kind}-${Date.now()}`;
    const watcher = await connectClient(app.wsUrl, user('wren'));
    await watcher.join(room);
    const client = await connectClient(app.wsUrl, user('flick'));
    const heard = () => watcher.all('presence').map((frame) => `${frame.data.user} ${frame.data.status}`);
    const presence = async () => {
      const { users, connections } = (await http('GET', `${app.url}/v1/rooms/${room}/presence`, { token: publisherToken() })).body;
      return { users: [...users].sort(), connections };
    };
    const replies = await pipeline(client, [
      { event: 'join', data: { room } },
      { event: 'leave', data: { room } },
      { event: 'join', data: { room } },
    ]);
    expect(replies.map((reply) => reply.event)).toEqual(['joined', 'left', 'joined']);
    await eventually(() => expect(heard()).toEqual(['flick joined', 'flick left', 'flick joined']));
    await eventually(async () => expect(await presence()).toEqual({ users: ['flick', 'wren'], connections: 2 }));
    // And a leave sent right after: gone from the room's presence, told once more.
    await pipeline(client, [{ event: 'leave', data: { room } }]);
    await eventually(() => expect(heard()).toEqual(['flick joined', 'flick left', 'flick joined', 'flick left']));
    await eventually(async () => expect(await presence()).toEqual({ users: ['wren'], connections: 1 }));
    await client.close();
    await watcher.close();
  });

  it('holds MAX_ROOMS_PER_CONNECTION against joins sent together, the personal room counted', async () => {
    const client = await connectClient(app.wsUrl, user('olga'));
    const stamp = Date.now();
    const rooms = Array.from({ length: 8 }, (_, i) => `chat:many-${kind}-${stamp}-${i}`);
    const replies = await pipeline(
      client,
      rooms.map((room) => ({ event: 'join', data: { room } })),
    );
    expect(replies.filter((reply) => reply.event === 'joined')).toHaveLength(4);
    expect(replies.filter((reply) => reply.event === 'error').map((reply) => reply.data.code)).toEqual(['forbidden', 'forbidden', 'forbidden', 'forbidden']);
    // The rooms joined are the first four asked for: each join counted the ones before it.
    expect(replies.slice(0, 4).map((reply) => reply.event)).toEqual(['joined', 'joined', 'joined', 'joined']);
    await client.close();
  });

  it('swaps rooms at MAX_ROOMS_PER_CONNECTION: a join sent right after a leave of another room waits for it', async () => {
    const client = await connectClient(app.wsUrl, user('swap'));
    const stamp = Date.now();
    const full = Array.from({ length: 4 }, (_, i) => `chat:swap-${kind}-${stamp}-${i}`);
    for (const room of full) await client.join(room);
    const next = `chat:swap-${kind}-${stamp}-next`;
    const replies = await pipeline(client, [
      { event: 'leave', data: { room: full[0] } },
      { event: 'join', data: { room: next } },
      { event: 'leave', data: { room: full[1] } },
      { event: 'message', data: { room: next, text: 'swapped in' } },
      { event: 'join', data: { room: full[0] } },
    ]);
    expect(replies.map((reply) => (reply.event === 'error' ? reply.data.code : reply.event))).toEqual(['left', 'joined', 'left', 'ack', 'joined']);
    // Still capped: one join more than the slots left is refused.
    expect((await client.request('join', { room: full[1] })).data).toMatchObject({ code: 'forbidden' });
    await client.close();
  });
});
