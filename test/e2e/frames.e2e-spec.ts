import { DISPLAY_NAME_MAX_CHARS } from '../../src/auth/token.verifier';
import { Broker } from '../../src/broker/broker';
import { ConnectionHub } from '../../src/connections/connection.hub';
import { HeartbeatService } from '../../src/connections/heartbeat.service';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { createTestApp, TestApp } from '../support/test-app';
import { startedTogether } from '../support/started-together';
import { signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('client frames (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  let alice: TestClient;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), RATE_LIMIT_PER_S: '1000' })));
  afterAll(() => app.close());
  beforeEach(async () => (alice = await connectClient(app.wsUrl, signToken({ sub: 'alice', name: 'Alice', rooms: ['chat:*', 'team:42'] }))));
  afterEach(() => alice.close());

  it('joins, chats and leaves, echoing each id', async () => {
    const joined = await alice.request('join', { room: 'chat:1' });
    expect(joined).toEqual({ event: 'joined', data: { room: 'chat:1', seq: expect.any(String) }, id: expect.any(String) });
    const ack = await alice.request('message', { room: 'chat:1', text: 'hello' });
    expect(ack).toEqual({ event: 'ack', data: { seq: expect.any(String) }, id: ack.id });
    const message = await alice.next('message');
    expect(message.data).toEqual({ seq: ack.data.seq, room: 'chat:1', user: 'alice', name: 'Alice', text: 'hello', timestamp: expect.any(String) });
    expect(new Date(message.data.timestamp).toISOString()).toBe(message.data.timestamp);
    const left = await alice.request('leave', { room: 'chat:1' });
    expect(left).toEqual({ event: 'left', data: { room: 'chat:1' }, id: left.id });
    expect((await alice.request('message', { room: 'chat:1', text: 'gone' })).data.code).toBe('not_member');
  });

  it('echoes numeric ids too', async () => {
    alice.send({ event: 'ping', id: 42 });
    expect(await alice.next('pong')).toEqual({ event: 'pong', id: 42 });
  });

  it('delivers a chat message to every member, the sender included, in one order with increasing seq', async () => {
    const bob = await connectClient(app.wsUrl, signToken({ sub: 'bob', rooms: ['chat:*'] }));
    await alice.join('chat:order');
    await bob.join('chat:order');
    for (let i = 0; i < 20; i++) alice.send({ event: 'message', data: { room: 'chat:order', text: `a${i}` } });
    for (let i = 0; i < 20; i++) bob.send({ event: 'message', data: { room: 'chat:order', text: `b${i}` } });
    const seen = async (client: TestClient) => {
      await eventually(() => expect(client.all('message').filter((m) => m.data.room === 'chat:order')).toHaveLength(40));
      return client.all('message').filter((m) => m.data.room === 'chat:order').map((m) => `${m.data.seq}/${m.data.text}`);
    };
    const [aliceSaw, bobSaw] = await Promise.all([seen(alice), seen(bob)]);
    expect(aliceSaw).toEqual(bobSaw);
    const seqs = aliceSaw.map((entry) => entry.split('/')[0]);
    expect([...seqs].sort()).toEqual(seqs);
    expect(new Set(seqs).size).toBe(40);
    await bob.close();
  });

  it("names a sender whose token's name is over DISPLAY_NAME_MAX_CHARS by the name cut to it, live and in the room's history", async () => {
    const room = 'chat:long-name';
    // Code points, not UTF-16 units: a cut by units would split the 100th character's surrogates.
    const cut = 'a' + '😀'.repeat(DISPLAY_NAME_MAX_CHARS - 1);
    const ned = await connectClient(app.wsUrl, signToken({ sub: 'ned', name: 'a' + '😀'.repeat(1000), rooms: ['chat:*'] }));
    const { data: joined } = await alice.join(room);
    await ned.join(room);
    const ack = await ned.request('message', { room, text: 'hi' });
    const heard = await alice.waitFor((frame) => frame.event === 'message' && frame.data.room === room);
    expect(heard.data).toEqual({ seq: ack.data.seq, room, user: 'ned', name: cut, text: 'hi', timestamp: expect.any(String) });
    const late = await connectClient(app.wsUrl, signToken({ sub: 'lou', rooms: ['chat:*'] }));
    await late.join(room, joined.seq);
    expect((await late.next('message')).data).toEqual(heard.data);
    await Promise.all([ned.close(), late.close()]);
  });

  it('allows its own room, public rooms and rooms its token names', async () => {
    for (const room of ['user:alice', 'public:news', 'chat:anything', 'team:42']) {
      expect((await alice.request('join', { room })).event).toBe('joined');
    }
  });

  const refused: [string, unknown, string][] = [
    ['a room outside its claim', { room: 'team:43' }, 'forbidden'],
    ["someone else's personal room", { room: 'user:bob' }, 'forbidden'],
    ['an invalid room name', { room: 'bad room!' }, 'invalid_room'],
    ['an overlong room name', { room: 'x'.repeat(129) }, 'invalid_room'],
    ['a missing room', {}, 'bad_request'],
    ['a non-string room', { room: 7 }, 'bad_request'],
    ['with a null since', { room: 'chat:1', since: null }, 'bad_request'],
    ['with a numeric since', { room: 'chat:1', since: 5 }, 'bad_request'],
  ];
  it.each(refused)('refuses to join %s', async (_, data, code) => {
    const reply = await alice.request('join', data);
    expect(reply).toEqual({ event: 'error', data: { code, message: expect.any(String), event: 'join' }, id: reply.id });
  });

  it('refuses messages in personal rooms and rooms it is not in', async () => {
    expect((await alice.request('message', { room: 'user:alice', text: 'forged' })).data.code).toBe('forbidden');
    expect((await alice.request('message', { room: 'chat:2', text: 'hi' })).data.code).toBe('not_member');
    expect((await alice.request('leave', { room: 'chat:2' })).data.code).toBe('not_member');
    await alice.join('chat:2');
    expect((await alice.request('message', { room: 'chat:2', text: '' })).data.code).toBe('bad_request');
    expect((await alice.request('message', { room: 'chat:2', text: 'x'.repeat(4001) })).data.code).toBe('bad_request');
    expect((await alice.request('message', { room: 'chat:2', text: 'x'.repeat(4000) })).event).toBe('ack');
    // Counted in characters (code points), as the contract's "1..4000 chars".
    expect((await alice.request('message', { room: 'chat:2', text: '😀'.repeat(4000) })).event).toBe('ack');
    expect((await alice.request('message', { room: 'chat:2', text: '😀'.repeat(4001) })).data.code).toBe('bad_request');
  });

  it('refuses a message whose text has a lone surrogate, as a published payload is refused, and relays none of it', async () => {
    const bob = await connectClient(app.wsUrl, signToken({ sub: 'bob-surrogates', rooms: ['chat:*'] }));
    await alice.join('chat:surrogates');
    await bob.join('chat:surrogates');
    // JSON.stringify writes a lone surrogate as the escape `\udc00`, which reaches the server as such.
    const refused = await alice.request('message', { room: 'chat:surrogates', text: 'x\udc00y' });
    expect(refused.data).toEqual({ code: 'bad_request', message: 'text must be well-formed Unicode (no lone surrogates)', event: 'message' });
    expect((await alice.request('message', { room: 'chat:surrogates', text: 'x😀y' })).event).toBe('ack');
    expect((await bob.next('message')).data.text).toBe('x😀y');
    await bob.close();
  });

  const malformed: [string, string, Record<string, unknown>][] = [
    ['not JSON', '{nope', {}],
    ['a JSON array', '[1,2]', {}],
    ['a JSON string', '"join"', {}],
    ['an unknown event', '{"event":"dance","id":"u1"}', { event: 'dance' }],
    ['a missing event', '{"data":{},"id":"u2"}', {}],
    ['data that is not an object', '{"event":"join","data":"chat:1","id":"u3"}', { event: 'join' }],
  ];
  it.each(malformed)('answers %s with bad_request and stays open', async (_, raw, extra) => {
    alice.send(raw);
    const error = await alice.next('error');
    expect(error.data).toEqual({ code: 'bad_request', message: expect.any(String), ...extra });
    const id = /"id":"(u\d)"/.exec(raw)?.[1];
    if (id) expect(error.id).toBe(id);
    expect((await alice.request('ping')).event).toBe('pong');
  });

  it('answers an unexpected failure with error internal, echoing the id, and keeps the connection', async () => {
    // The broker must read this join's history (no historyNow), and the read fails.
    const historyNow = jest.spyOn(app.app.get(Broker), 'historyNow').mockReturnValueOnce(undefined);
    const history = jest.spyOn(app.app.get(Broker), 'history').mockRejectedValueOnce(new Error('disk on fire'));
    try {
      const failed = await alice.request('join', { room: 'chat:broken' });
      expect(failed).toEqual({ event: 'error', data: { code: 'internal', message: 'Internal error', event: 'join' }, id: failed.id });
      expect((await alice.request('ping')).event).toBe('pong');
      // Nothing of the failed join stayed behind: joining again works.
      expect((await alice.request('join', { room: 'chat:broken' })).event).toBe('joined');
    } finally {
      history.mockRestore();
      historyNow.mockRestore();
    }
  });

  it('accepts pong frames without replying', async () => {
    alice.send({ event: 'pong' });
    alice.send({ event: 'ping', id: 'after' });
    expect(await alice.waitFor((frame) => frame.id === 'after')).toEqual({ event: 'pong', id: 'after' });
    // The ping's pong is the only answer: nothing answered the pong frame before it.
    expect(alice.frames.filter((frame) => frame.event === 'error' || frame.event === 'pong')).toEqual([{ event: 'pong', id: 'after' }]);
  });

  it('answers bad_request to a ping or pong carrying data, which they have none of, and keeps the connection', async () => {
    // Each reply by its id: a presence event of an earlier connection of alice's may come first.
    alice.send({ event: 'ping', id: 'p', data: { extra: 1 } });
    expect(await alice.waitFor((frame) => frame.id === 'p')).toEqual({ event: 'error', id: 'p', data: { code: 'bad_request', message: 'property extra should not exist (ping carries no data)', event: 'ping' } });
    alice.send({ event: 'pong', id: 'q', data: { extra: 1 } });
    expect(await alice.waitFor((frame) => frame.id === 'q')).toEqual({ event: 'error', id: 'q', data: { code: 'bad_request', message: 'property extra should not exist (pong carries no data)', event: 'pong' } });
    alice.send({ event: 'ping', id: 'empty', data: {} });
    expect(await alice.waitFor((frame) => frame.id === 'empty')).toEqual({ event: 'pong', id: 'empty' });
  });

  it('closes with 1009 on a frame larger than MAX_MESSAGE_BYTES', async () => {
    alice.send({ event: 'message', data: { room: 'chat:1', text: 'x'.repeat(70_000) } });
    expect(await alice.closed).toEqual({ code: 1009, reason: 'message_too_big' });
  });

  it('keeps a connection in its personal room: leaving it is forbidden', async () => {
    const reply = await alice.request('leave', { room: 'user:alice' });
    expect(reply).toMatchObject({ event: 'error', data: { code: 'forbidden', event: 'leave' }, id: reply.id });
    expect((await alice.request('join', { room: 'user:alice' })).event).toBe('joined');
  });

  describe('refresh', () => {
    it('swaps the token in band and uses its rooms claim for later joins', async () => {
      expect((await alice.request('join', { room: 'ops:1' })).data.code).toBe('forbidden');
      const reply = await alice.request('refresh', { token: signToken({ sub: 'alice', rooms: ['ops:*'], ttlS: 7200 }) });
      expect(reply).toEqual({ event: 'refreshed', data: { expiresAt: expect.any(String) }, id: reply.id });
      expect(Date.parse(reply.data.expiresAt)).toBeGreaterThan(Date.now() + 7000_000);
      expect((await alice.request('join', { room: 'ops:1' })).event).toBe('joined');
    });

    it('takes the connection out of the rooms a narrower token no longer grants, with a left before refreshed', async () => {
      const bob = await connectClient(app.wsUrl, signToken({ sub: 'bob', rooms: ['chat:*'] }));
      try {
        for (const room of ['chat:revoked', 'team:42', 'public:lobby']) await alice.join(room);
        await bob.join('chat:revoked');
        const reply = await alice.request('refresh', { token: signToken({ sub: 'alice', rooms: ['team:42'], ttlS: 7200 }) });
        expect(reply.event).toBe('refreshed');
        const left = alice.all('left').filter((frame) => frame.id === undefined);
        expect(left.map((frame) => frame.data)).toEqual([{ room: 'chat:revoked' }]);
        expect(alice.frames.indexOf(left[0])).toBeLessThan(alice.frames.indexOf(reply));
        expect((await alice.request('message', { room: 'chat:revoked', text: 'still here?' })).data.code).toBe('not_member');
        expect((await alice.request('join', { room: 'chat:revoked' })).data.code).toBe('forbidden');
        // The rooms it still may be in, public ones included, stay joined; the room hears it left.
        for (const room of ['team:42', 'public:lobby']) expect((await alice.request('message', { room, text: 'here' })).event).toBe('ack');
        expect((await bob.waitFor((frame) => frame.event === 'presence' && frame.data.user === 'alice')).data).toMatchObject({ room: 'chat:revoked', status: 'left' });
      } finally {
        await bob.close();
      }
    });

    it('revokes a join still under way when a narrower token arrives: joined, then an unprompted left, and no membership', async () => {
      const carol = await connectClient(app.wsUrl, signToken({ sub: 'carol', rooms: ['chat:*'] }));
      try {
        // Sent together: with Redis the join waits for the room's history while the refresh is
        // answered; on the embedded broker it is done first and the refresh revokes it.
        carol.send({ event: 'join', data: { room: 'chat:in-flight' }, id: 'j' });
        carol.send({ event: 'refresh', data: { token: signToken({ sub: 'carol', rooms: ['team:*'], ttlS: 7200 }) }, id: 'r' });
        const order = () => carol.frames.map((frame) => (frame.event === 'left' && frame.id === undefined ? `left ${frame.data.room}` : frame.event)).filter((event) => ['joined', 'refreshed', 'left chat:in-flight'].includes(event));
        await eventually(() => expect(order()).toHaveLength(3));
        expect(order().filter((event) => event !== 'refreshed')).toEqual(['joined', 'left chat:in-flight']);
        expect((await carol.request('message', { room: 'chat:in-flight', text: 'still here?' })).data.code).toBe('not_member');
      } finally {
        await carol.close();
      }
    });

    it.each([
      ['another sub', () => signToken({ sub: 'mallory' })],
      ['a bad signature', () => signToken({ sub: 'alice' }, 'a-different-secret-long-enough')],
      ['an expired token', () => signToken({ sub: 'alice', ttlS: -5 })],
      ['an exp later than any date (once error internal)', () => signToken({ sub: 'alice', ttlS: 1e13 })],
      // Valid but for its length (a long name would be cut to 100 characters): over 16,384 characters.
      ['a token longer than any handshake could carry', () => signToken({ sub: 'alice', name: 'n'.repeat(13_000) })],
    ])('refuses %s and keeps the old token', async (_, makeToken) => {
      const reply = await alice.request('refresh', { token: makeToken() });
      expect(reply.event).toBe('error');
      expect(reply.data).toMatchObject({ code: 'unauthorized', event: 'refresh' });
      expect((await alice.request('join', { room: 'chat:still' })).event).toBe('joined');
    });

    describe('expiry', () => {
      // Each case waits out a token's few seconds of life: they start together, so those waits
      // overlap instead of adding up, and each test checks its own case.
      const cases = startedTogether({
        unrefreshed: async () => {
          // Not 1 s: `exp` has whole seconds, so such a token can expire before a busy machine's welcome.
          const shortLived = await connectClient(app.wsUrl, signToken({ sub: 'carol', ttlS: 3 }));
          expect(await shortLived.closed).toEqual({ code: 4001, reason: 'token_expired' });
        },
        slowSweep: async () => {
          // Judged by the heartbeat alone (once a quarter heartbeat, as it was: 15 s here) it would close up to 15 s late.
          const slowSweep = await createTestApp({ ...broker.env(), HEARTBEAT_MS: '60000' });
          try {
            const token = signToken({ sub: 'gail', ttlS: 3 });
            const expiresAtMs = (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp * 1000;
            const client = await connectClient(slowSweep.wsUrl, token);
            expect(await client.closed).toEqual({ code: 4001, reason: 'token_expired' });
            // Generous for a busy machine, and still well short of the 15 s sweep.
            expect(Date.now() - expiresAtMs).toBeLessThan(6000);
            expect(slowSweep.app.get(ConnectionHub).stats().expiring).toBe(0);
          } finally {
            await slowSweep.close();
          }
        },
        firstFrame: async () => {
          const slowSweep = await createTestApp({ ...broker.env(), HEARTBEAT_MS: '60000' });
          try {
            // Only the frame itself can tell now: the pod's sweep and expiry timers are stopped.
            slowSweep.app.get(HeartbeatService).onApplicationShutdown();
            // Three seconds of life, so a busy machine still admits both (a 1-second token signed late
            // in its second expired within milliseconds); then wait until `exp` has passed.
            const tokens = [signToken({ sub: 'erin', ttlS: 3 }), signToken({ sub: 'fred', ttlS: 3 }), signToken({ sub: 'gus', ttlS: 3 }), signToken({ sub: 'hal', ttlS: 3 }), signToken({ sub: 'ivy', ttlS: 3 })];
            const expiresAtMs = Math.max(...tokens.map((token) => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp * 1000));
            const client = await connectClient(slowSweep.wsUrl, tokens[0]);
            const ponging = await connectClient(slowSweep.wsUrl, tokens[1]);
            const [garbled, unknown] = [await connectClient(slowSweep.wsUrl, tokens[2]), await connectClient(slowSweep.wsUrl, tokens[3])];
            const protocolPonging = await connectClient(slowSweep.wsUrl, tokens[4]);
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAtMs - Date.now()) + 100));
            expect(client.closeInfo).toBeUndefined();
            client.send({ event: 'join', data: { room: 'public:late' }, id: 'late' });
            expect(await client.closed).toEqual({ code: 4001, reason: 'token_expired' });
            expect(client.frames.filter((frame) => frame.id === 'late')).toEqual([]);
            // A `pong` is a frame like any other here, though nothing ever answers it.
            expect(ponging.closeInfo).toBeUndefined();
            ponging.send({ event: 'pong', id: 'late' });
            expect(await ponging.closed).toEqual({ code: 4001, reason: 'token_expired' });
            expect(ponging.frames.filter((frame) => frame.id === 'late')).toEqual([]);
            // A frame that would be refused is no exception: closed before any answer.
            garbled.send('not json');
            unknown.send({ event: 'zzz', id: 'late' });
            for (const late of [garbled, unknown]) {
              expect(await late.closed).toEqual({ code: 4001, reason: 'token_expired' });
              expect(late.all('error')).toEqual([]);
            }
            // A protocol-level pong (section 3: any frame) too.
            protocolPonging.socket.pong();
            expect(await protocolPonging.closed).toEqual({ code: 4001, reason: 'token_expired' });
          } finally {
            await slowSweep.close();
          }
        },
        refreshed: async () => {
          const token = signToken({ sub: 'dave', ttlS: 3 });
          const client = await connectClient(app.wsUrl, token);
          // Same token, not refreshed: closed once the old exp is past, on time.
          const companion = await connectClient(app.wsUrl, token);
          await client.request('refresh', { token: signToken({ sub: 'dave', ttlS: 60 }) });
          expect(await companion.closed).toEqual({ code: 4001, reason: 'token_expired' });
          expect(client.closeInfo).toBeUndefined();
          expect((await client.request('ping')).event).toBe('pong');
          await client.close();
        },
      });

      it('closes with 4001 when the token expires unrefreshed', cases.unrefreshed);
      it('closes with 4001 within about a second of exp, however long the heartbeat', cases.slowSweep);
      it('closes with 4001 at the first frame after expiry, whatever the timers do', cases.firstFrame);
      it('keeps a connection whose token was refreshed before expiry', cases.refreshed);
    });
  });
});

describe('MAX_MESSAGE_BYTES', () => {
  it('is announced in welcome and enforced at that size', async () => {
    const app = await createTestApp({ MAX_MESSAGE_BYTES: '2048' });
    try {
      const client = await connectClient(app.wsUrl, signToken({ rooms: ['chat:*'] }));
      expect(client.frames[0].data.maxMessageBytes).toBe(2048);
      await client.join('chat:small');
      // A frame of exactly the limit is answered; a larger one closes the connection.
      const text = 'x'.repeat(2048 - JSON.stringify({ event: 'message', data: { room: 'chat:small', text: '' }, id: 'r2' }).length);
      expect((await client.request('message', { room: 'chat:small', text })).event).toBe('ack');
      client.send({ event: 'message', data: { room: 'chat:small', text: text + 'x'.repeat(20) } });
      expect(await client.closed).toEqual({ code: 1009, reason: 'message_too_big' });
    } finally {
      await app.close();
    }
  });
});

