import { get as httpGet, request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';
import { gzipSync } from 'node:zlib';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

describe.each(BROKER_KINDS)('HTTP API (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), MAX_PUBLISH_BYTES: '16384' })));
  afterAll(() => app.close());

  describe('POST /v1/notifications', () => {
    it('answers 202 and delivers one frame per target room to every member, users included', async () => {
      const alice = await connectClient(app.wsUrl, signToken({ sub: 'alice', rooms: ['orders:*'] }));
      const alice2 = await connectClient(app.wsUrl, signToken({ sub: 'alice', rooms: ['orders:*'] }));
      const bob = await connectClient(app.wsUrl, signToken({ sub: 'bob', rooms: ['orders:*'] }));
      await Promise.all([alice.join('orders:1'), alice2.join('orders:1'), bob.join('orders:1'), bob.join('public:news')]);

      const response = await publish(app.url, { rooms: ['orders:1', 'public:news'], users: ['alice'], type: 'order.shipped', payload: { title: 'Shipped', body: '#1' } });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ id: expect.any(String), targets: 3 });

      const byRoom = async (client: TestClient, count: number) => {
        await eventually(() => expect(client.all('notification')).toHaveLength(count));
        return client.all('notification').map((frame) => frame.data.room).sort();
      };
      expect(await byRoom(alice, 2)).toEqual(['orders:1', 'user:alice']);
      expect(await byRoom(alice2, 2)).toEqual(['orders:1', 'user:alice']);
      expect(await byRoom(bob, 2)).toEqual(['orders:1', 'public:news']);
      const frame = alice.all('notification')[0];
      expect(frame.data).toEqual({
        id: response.body.id,
        seq: expect.any(String),
        room: frame.data.room,
        type: 'order.shipped',
        payload: { title: 'Shipped', body: '#1' },
        timestamp: expect.any(String),
      });
      await Promise.all([alice.close(), alice2.close(), bob.close()]);
    });

    it('delivers a publish id once, however often it is repeated', async () => {
      const carol = await connectClient(app.wsUrl, signToken({ sub: 'carol' }));
      const body = { users: ['carol'], type: 'reminder', payload: { n: 1 }, id: `once-${kind}` };
      const responses = await Promise.all([publish(app.url, body), publish(app.url, body), publish(app.url, body)]);
      expect(responses.map((response) => response.status)).toEqual([202, 202, 202]);
      expect(responses.map((response) => response.body.id)).toEqual([body.id, body.id, body.id]);
      await publish(app.url, { users: ['carol'], type: 'marker', payload: {} });
      await carol.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(carol.all('notification').filter((frame) => frame.data.id === body.id)).toHaveLength(1);
      await carol.close();
    });

    it('answers 409 to a repeated id with another body and delivers it nowhere, not even to a new target', async () => {
      const [erin, frank] = await Promise.all([connectClient(app.wsUrl, signToken({ sub: 'erin' })), connectClient(app.wsUrl, signToken({ sub: 'frank' }))]);
      const id = `conflict-${kind}`;
      const first = { users: ['erin'], type: 'reminder', payload: { text: 'first', nested: { a: 1, b: 2 } }, id };
      expect((await publish(app.url, first)).status).toBe(202);
      // The same request with its keys in another order is the same request.
      const reordered = await publish(app.url, { id, payload: { nested: { b: 2, a: 1 }, text: 'first' }, type: 'reminder', users: ['erin'] });
      expect(reordered).toMatchObject({ status: 202, body: { id, targets: 1 } });

      for (const changed of [
        { ...first, payload: { text: 'second', nested: { a: 1, b: 2 } } },
        { ...first, type: 'other' },
        { ...first, users: ['erin', 'frank'] },
      ]) {
        const response = await publish(app.url, changed);
        expect(response.status).toBe(409);
        expect(response.body).toEqual({ statusCode: 409, message: expect.stringContaining(JSON.stringify(id)), error: 'Conflict' });
      }
      await publish(app.url, { users: ['erin', 'frank'], type: 'marker', payload: {} });
      for (const client of [erin, frank]) await client.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(erin.all('notification').filter((frame) => frame.data.id === id).map((frame) => frame.data.payload.text)).toEqual(['first']);
      expect(frank.all('notification').filter((frame) => frame.data.id === id)).toEqual([]);
      await Promise.all([erin.close(), frank.close()]);
    });

    it('delivers, stores in the inbox and fingerprints a payload exactly as sent, keys named after Object.prototype members included', async () => {
      const ivy = await connectClient(app.wsUrl, signToken({ sub: 'ivy' }));
      const payload = '{"title":"x","constructor":"Bob","toString":"t","valueOf":1,"hasOwnProperty":2,"prototype":"p","__proto__":{"a":1},"deep":{"constructor":{"prototype":[{"__proto__":"z","constructor":0}]}}}';
      const id = `as-sent-${kind}`;
      const send = (sentPayload: string) => http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["ivy"],"type":"as-sent","id":"${id}","payload":${sentPayload}}` });
      expect((await send(payload)).status).toBe(202);
      expect(JSON.stringify((await ivy.next('notification')).data.payload)).toBe(payload);
      const inbox = await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: 'ivy' }) });
      expect(JSON.stringify(inbox.body.items[0].payload)).toBe(payload);
      // The same id with the payload less one such key is another body: 409, and nothing delivered.
      expect((await send(payload)).status).toBe(202);
      expect(await send(payload.replace('"constructor":"Bob",', ''))).toMatchObject({ status: 409, body: { statusCode: 409 } });
      const emptyFirst = `as-sent-empty-${kind}`;
      expect((await publish(app.url, { users: ['ivy'], type: 't', payload: {}, id: emptyFirst })).status).toBe(202);
      const differing = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["ivy"],"type":"t","payload":{"constructor":"DIFFERENT"},"id":"${emptyFirst}"}` });
      expect(differing.status).toBe(409);
      await publish(app.url, { users: ['ivy'], type: 'marker', payload: {} });
      await ivy.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(ivy.all('notification').map((frame) => frame.data.type)).toEqual(['as-sent', 't', 'marker']);
      await ivy.close();
    });

    it('refuses ids with lone surrogates, which Redis would merge into one, and keeps apart the ids that differ', async () => {
      const jo = await connectClient(app.wsUrl, signToken({ sub: 'jo' }));
      const sent = (id: string) => http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["jo"],"type":"t","payload":{},"id":"${id}"}` });
      for (const id of ['P\\ud800', 'P\\udfff', 'P\\udbffQ']) {
        expect(await sent(id)).toMatchObject({ status: 400, body: { message: ['id must be well-formed Unicode (no lone surrogates)'] } });
      }
      expect((await sent('P\\ufffd')).status).toBe(202);
      expect((await sent('P\\ud83d\\ude00')).status).toBe(202);
      await publish(app.url, { users: ['jo'], type: 'marker', payload: {} });
      await jo.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(jo.all('notification').map((frame) => frame.data.id)).toEqual(['P\ufffd', 'P😀', expect.any(String)]);
      await jo.close();
    });

    it.each([
      ['a number too large for JSON', '{"n":1e999}', 'payload.n is a number too large for JSON'],
      ['an integer too large for JSON, written out', `{"n":1${'0'.repeat(309)}}`, 'payload.n is a number too large for JSON'],
      ['an integer a double would round (an int64 id)', '{"user":{"id":1234567890123456789}}', 'payload.user.id is an integer beyond 2^53, which JSON readers round: send it as a string'],
      ['an int64 id written with an exponent', '{"id":1.234567890123456789e18}', 'payload.id is an integer beyond 2^53, which JSON readers round: send it as a string'],
      ['an integer past 2^53 written as a fraction', '{"id":90071992547409930e-1}', 'payload.id is an integer beyond 2^53, which JSON readers round: send it as a string'],
      ['a fraction with more digits than a double keeps', '{"n":12345678901234567890.5}', 'payload.n has more digits than a double keeps: it would arrive as 12345678901234567000'],
      ['a number that would underflow to 0', '{"n":[1e-400]}', 'payload.n.0 is a number too small for JSON: it would arrive as 0'],
      ['a number that would underflow to 0, written out', `{"n":0.${'0'.repeat(400)}1}`, 'payload.n is a number too small for JSON: it would arrive as 0'],
      ['a lone surrogate in a payload string', '{"list":["\\udc00"]}', 'payload.list.0 must be well-formed Unicode (no lone surrogates)'],
      ['a lone surrogate under a key with a dot', '{"a":{"b.c":"\\udc00"}}', 'payload.a["b.c"] must be well-formed Unicode (no lone surrogates)'],
      ['a lone surrogate in the type', '{}', 'type must be well-formed Unicode (no lone surrogates)'],
    ])('answers 400 naming the place for %s, rather than delivering something else', async (what, payload, message) => {
      const type = what.includes('type') ? 't\\ud800' : 't';
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["x"],"type":"${type}","payload":${payload}}` });
      expect(response).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: [message] } });
    });

    it('delivers the numbers a double holds exactly as they are, read by either JSON parser', async () => {
      const jo = await connectClient(app.wsUrl, signToken({ sub: 'numbers' }));
      const payload = '{"max":9007199254740992,"min":-9007199254740991,"big":100000000000000000000,"tenth":0.1,"tiny":1e-300,"mole":6.02e23,"also_max":9.007199254740992e15,"zero":0e-400}';
      for (const contentType of ['application/json', 'application/json; charset=utf-8']) {
        const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["numbers"],"type":"t","payload":${payload}}`, headers: { 'content-type': contentType } });
        expect(response.status).toBe(202);
        expect((await jo.next('notification')).data.payload).toEqual(JSON.parse(payload));
        for (const id of ['9007199254740993', '9007199254740993e0', '9.007199254740993e15']) {
          const refused = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["numbers"],"type":"t","payload":{"id":${id}}}`, headers: { 'content-type': contentType } });
          expect(refused).toMatchObject({ status: 400, body: { message: ['payload.id is an integer beyond 2^53, which JSON readers round: send it as a string'] } });
        }
      }
      // -0 is written back in the shortest form that reads as its double: 0 (docs/protocol.md, section 6).
      expect((await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '{"users":["numbers"],"type":"t","payload":{"z":-0}}' })).status).toBe(202);
      expect(Object.is((await jo.next('notification')).data.payload.z, 0)).toBe(true);
      await jo.close();
    });

    it.each([
      ['no token', null, 401],
      ['a bad token', 'nope', 401],
      ['an expired token', signToken({ sub: 'svc', scope: 'notifications:publish', ttlS: -5 }), 401],
      ['a token without the scope', signToken({ sub: 'svc', scope: 'presence:read' }), 403],
    ])('refuses %s', async (_, token, status) => {
      const response = await publish(app.url, { users: ['x'], type: 't', payload: {} }, token);
      expect(response.status).toBe(status);
      expect(response.body).toMatchObject({ statusCode: status, message: expect.anything() });
    });

    it('accepts the scope as an array claim, and as scp', async () => {
      expect((await publish(app.url, { users: ['x'], type: 't', payload: {} }, signToken({ sub: 'svc', scope: ['notifications:publish'] }))).status).toBe(202);
      expect((await publish(app.url, { users: ['x'], type: 't', payload: {} }, signToken({ sub: 'svc', scp: 'notifications:publish' }))).status).toBe(202);
    });

    it('accepts exactly 1000 targets and a type of exactly 100 characters', async () => {
      const body = { rooms: Array.from({ length: 600 }, (_, i) => `edge:r${i}`), users: Array.from({ length: 400 }, (_, i) => `edge${i}`), type: 't'.repeat(100), payload: {} };
      expect(await publish(app.url, body)).toMatchObject({ status: 202, body: { targets: 1000 } });
    });

    it("stamps each room's frame with that room's own next seq", async () => {
      const gail = await connectClient(app.wsUrl, signToken({ sub: 'gail' }));
      const joined = await Promise.all([gail.join('public:seq-a'), gail.join('public:seq-b')]);
      // Room a moves ahead of room b first, so the two rooms' seqs differ.
      await publish(app.url, { rooms: ['public:seq-a'], type: 'first', payload: {} });
      await publish(app.url, { rooms: ['public:seq-a', 'public:seq-b'], type: 'both', payload: {} });
      await eventually(() => expect(gail.all('notification')).toHaveLength(3));
      const seqs = new Map<string, string[]>();
      for (const { data } of gail.all('notification')) seqs.set(data.room, [...(seqs.get(data.room) ?? []), data.seq]);
      for (const [index, room] of ['public:seq-a', 'public:seq-b'].entries()) {
        const ofRoom = seqs.get(room)!;
        expect(ofRoom).toHaveLength(room === 'public:seq-a' ? 2 : 1);
        // Each follows the room's joined seq, in the room's own order.
        expect([joined[index].data.seq, ...ofRoom]).toEqual([joined[index].data.seq, ...ofRoom].sort());
        expect(new Set([joined[index].data.seq, ...ofRoom]).size).toBe(ofRoom.length + 1);
      }
      // Recovery from each room's joined seq finds exactly that room's frames.
      const back = await connectClient(app.wsUrl, signToken({ sub: 'gail' }));
      expect((await back.join('public:seq-b', joined[1].data.seq)).data).toMatchObject({ recovered: true, missed: 1 });
      await Promise.all([gail.close(), back.close()]);
    });

    const invalid: [string, unknown, string][] = [
      ['no target', { type: 't', payload: {} }, 'rooms'],
      ['an empty target list', { rooms: [], users: [], type: 't', payload: {} }, 'rooms'],
      ['rooms that is not an array', { rooms: 'a', type: 't', payload: {} }, 'rooms'],
      ['an invalid room name', { rooms: ['bad room'], type: 't', payload: {} }, 'rooms'],
      ['an invalid user', { users: ['a b'], type: 't', payload: {} }, 'users'],
      ['more than 1000 targets', { rooms: Array.from({ length: 600 }, (_, i) => `r${i}`), users: Array.from({ length: 401 }, (_, i) => `u${i}`), type: 't', payload: {} }, 'targets'],
      ['a missing type', { users: ['x'], payload: {} }, 'type'],
      ['an empty type', { users: ['x'], type: '', payload: {} }, 'type'],
      ['a type over 100 chars', { users: ['x'], type: 't'.repeat(101), payload: {} }, 'type'],
      ['a missing payload', { users: ['x'], type: 't' }, 'payload'],
      ['an array payload', { users: ['x'], type: 't', payload: [1] }, 'payload'],
      ['a string payload', { users: ['x'], type: 't', payload: 'hi' }, 'payload'],
      ['a non-string id', { users: ['x'], type: 't', payload: {}, id: 5 }, 'id'],
    ];
    it.each(invalid)('answers 400 naming the field for %s', async (_, body, field) => {
      const response = await publish(app.url, body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(JSON.stringify(response.body.message)).toContain(field);
    });

    it.each([
      ['an empty body', {}, ['type must be a string', 'payload must be a JSON object', 'rooms or users must name at least one target']],
      ['a bad type and no target', { type: 5, payload: {} }, ['type must be a string', 'rooms or users must name at least one target']],
      ['a bad type and too many targets', { rooms: Array.from({ length: 600 }, (_, i) => `r${i}`), users: Array.from({ length: 401 }, (_, i) => `u${i}`), type: '', payload: {} }, ['type must be longer than or equal to 1 characters', 'rooms and users together must name at most 1000 targets']],
      // rooms of the wrong type speaks for itself: no targets line beside it.
      ['rooms that is not a list', { rooms: 'a', type: 't', payload: {} }, ['rooms must be an array']],
    ])('lists every broken rule at once for %s, the targets rule included', async (_, body, message) => {
      expect(await publish(app.url, body)).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
    });

    it('answers 400 for a body that is not JSON', async () => {
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '{"users": [' });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('JSON') });
    });

    it('answers 415 in the error shape for a JSON body in a charset it does not read', async () => {
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '{}', headers: { 'content-type': 'application/json; charset=latin1' } });
      expect(response.body).toEqual({ statusCode: 415, error: 'Unsupported Media Type', message: 'unsupported charset "LATIN1"' });
    });

    it.each(['/v1/notifications', '/v1/notifications/batch', '/v1/inbox/read'])('answers POST %s with a transfer coding other than chunked 501 naming it, and publishes nothing', async (route) => {
      const erin = await connectClient(app.wsUrl, signToken({ sub: 'erin' }));
      const notification = { users: ['erin'], type: 'coded', payload: {} };
      const json = JSON.stringify(route === '/v1/notifications/batch' ? { notifications: [notification] } : route === '/v1/inbox/read' ? { all: true } : notification);
      // Node takes the chunks apart and hands on the rest as it came: neither body is what was meant.
      for (const body of [gzipSync(json), Buffer.from(json)]) {
        const response = await postWithTransferEncoding(`${app.url}${route}`, 'gzip, chunked', body);
        expect(response).toEqual({ status: 501, body: { statusCode: 501, error: 'Not Implemented', message: expect.stringContaining('unsupported transfer coding "gzip" (Transfer-Encoding)') } });
      }
      expect((await postWithTransferEncoding(`${app.url}/v1/notifications`, 'chunked', Buffer.from(JSON.stringify({ ...notification, type: 'marker' })))).status).toBe(202);
      await erin.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(erin.all('notification').map((frame) => frame.data.type)).toEqual(['marker']);
      await erin.close();
    });

    it.each([
      ['a Content-Encoding it does not read', { 'content-encoding': 'foo' }, 415, 'unsupported content encoding "foo"'],
      ['a transfer coding other than chunked', { 'transfer-encoding': 'gzip, chunked' }, 501, 'unsupported transfer coding "gzip" (Transfer-Encoding)'],
    ])('answers a body in %s without asking for it with 100 Continue', async (_, headers, status, message) => {
      const answer = await postExpectingContinue(`${app.url}/v1/notifications`, headers, JSON.stringify({ users: ['erin'], type: 't', payload: {} }));
      expect(answer).toEqual({ continued: false, status, body: { statusCode: status, error: expect.any(String), message: expect.stringContaining(message) } });
    });

    it.each([
      ['Content-Length twice', `Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`, 'Duplicate Content-Length'],
      ['Content-Length beside Transfer-Encoding', `Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'Transfer-Encoding'],
      ['a Content-Length that is no number', `Content-Length: -1\r\n\r\n{}`, 'Content-Length'],
    ])('answers a request with %s, which Node cannot read, 400 in the error shape naming the header', async (_, rest, named) => {
      const answer = await rawExchange(app.url, `POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\n${rest}`);
      expect(answer.head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer.head).toMatch(/\r\nx-content-type-options: nosniff/i);
      expect(answer.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/^The request is not valid HTTP: /) });
      expect(answer.body.message).toContain(named);
    });

    it.each([
      ['without a token', '/v1/notifications', false],
      ['to a path no route serves', '/v1/nope', true],
      ['with a token', '/v1/notifications', true],
    ])('answers a request %s whose Transfer-Encoding does not end in chunked 400 naming it, once, and closes', async (_, path, withToken) => {
      const authorization = withToken ? `Authorization: Bearer ${publisherToken()}\r\n` : '';
      const answer = await rawExchange(app.url, `POST ${path} HTTP/1.1\r\nHost: herald\r\n${authorization}Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}`);
      expect(answer.head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(answer.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('Transfer-Encoding that does not end in chunked') });
    });

    it('answers once a request whose chunked body Node cannot read after its 401 was sent', async () => {
      // Node hands the request on with its headers, and fails on the chunk size only after the 401.
      const answer = await rawExchange(app.url, `POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`);
      expect(answer.head).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
      expect(answer.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.stringMatching(/bearer token/) });
    });

    it('answers 413 over MAX_PUBLISH_BYTES and delivers nothing', async () => {
      const dave = await connectClient(app.wsUrl, signToken({ sub: 'dave' }));
      const response = await publish(app.url, { users: ['dave'], type: 'big', payload: { blob: 'x'.repeat(20_000) } });
      expect(response.status).toBe(413);
      expect(response.body).toEqual({ statusCode: 413, error: 'Payload Too Large', message: 'request entity too large' });
      await publish(app.url, { users: ['dave'], type: 'marker', payload: {} });
      await dave.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(dave.all('notification').map((frame) => frame.data.type)).toEqual(['marker']);
      await dave.close();
    });
  });

  describe('GET /v1/rooms/:room/presence', () => {
    it('counts users and connections', async () => {
      const token = signToken({ sub: 'ops', scope: 'presence:read' });
      const a1 = await connectClient(app.wsUrl, signToken({ sub: 'erin' }));
      const a2 = await connectClient(app.wsUrl, signToken({ sub: 'erin' }));
      const b = await connectClient(app.wsUrl, signToken({ sub: 'frank' }));
      await Promise.all([a1.join('public:lobby'), a2.join('public:lobby'), b.join('public:lobby')]);
      const response = await http('GET', `${app.url}/v1/rooms/public:lobby/presence`, { token });
      expect(response.status).toBe(200);
      expect({ ...response.body, users: [...response.body.users].sort() }).toEqual({ room: 'public:lobby', users: ['erin', 'frank'], connections: 3 });
      await b.close();
      await eventually(async () =>
        expect((await http('GET', `${app.url}/v1/rooms/public:lobby/presence`, { token })).body).toEqual({ room: 'public:lobby', users: ['erin'], connections: 2 }),
      );
      await Promise.all([a1.close(), a2.close()]);
    });

    it("counts a personal room's connections: its user's own, from the first moment", async () => {
      const token = signToken({ sub: 'ops', scope: 'presence:read' });
      const presenceOf = async (room: string) => (await http('GET', `${app.url}/v1/rooms/${room}/presence`, { token })).body;
      const tabs = await Promise.all([0, 1].map(() => connectClient(app.wsUrl, signToken({ sub: 'gwen' }))));
      const other = await connectClient(app.wsUrl, signToken({ sub: 'hank' }));
      // Recorded without delaying `welcome`: within the broker's batch window.
      await eventually(async () => expect(await presenceOf('user:gwen')).toEqual({ room: 'user:gwen', users: ['gwen'], connections: 2 }));
      expect(await presenceOf('user:hank')).toEqual({ room: 'user:hank', users: ['hank'], connections: 1 });
      // A connection stays in its personal room until it closes: a leave changes nothing, a close counts.
      expect((await tabs[0].request('leave', { room: 'user:gwen' })).data).toMatchObject({ code: 'forbidden' });
      await tabs[0].close();
      await eventually(async () => expect((await presenceOf('user:gwen')).connections).toBe(1));
      await Promise.all([tabs[1], other].map((client) => client.close()));
      await eventually(async () => expect(await presenceOf('user:gwen')).toEqual({ room: 'user:gwen', users: [], connections: 0 }));
      // Nobody is ever told of a personal room's presence: its only user is its owner.
      expect(tabs[1].all('presence')).toEqual([]);
    });

    it('needs the presence:read scope', async () => {
      expect((await http('GET', `${app.url}/v1/rooms/public:lobby/presence`, { token: null })).status).toBe(401);
      expect((await http('GET', `${app.url}/v1/rooms/public:lobby/presence`, { token: signToken({ scope: 'notifications:publish' }) })).status).toBe(403);
    });

    it('reads rooms named . and .. when the path is sent as written (fetch would remove them)', async () => {
      const token = signToken({ sub: 'ops', scope: 'presence:read' });
      const asWritten = (path: string) =>
        new Promise<unknown>((resolve, reject) => {
          // Host, port and path apart: a URL string would be normalized on the way.
          const { hostname, port } = new URL(app.url);
          const request = httpGet({ hostname, port, path, headers: { authorization: `Bearer ${token}` } }, (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => resolve(JSON.parse(text)));
          });
          request.on('error', reject);
        });
      const dots = await connectClient(app.wsUrl, signToken({ sub: 'ines', rooms: ['.', '..'] }));
      await dots.join('..');
      await eventually(async () => expect(await asWritten('/v1/rooms/../presence')).toEqual({ room: '..', users: ['ines'], connections: 1 }));
      expect(await asWritten('/v1/rooms/%2E/presence')).toEqual({ room: '.', users: [], connections: 0 });
      await dots.close();
    });

    it('answers 400 for an invalid room name', async () => {
      const response = await http('GET', `${app.url}/v1/rooms/${encodeURIComponent('bad room')}/presence`, { token: signToken({ scope: 'presence:read' }) });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('room');
    });
  });

  describe('health and metrics', () => {
    it('is live and ready', async () => {
      expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
      expect(await http('GET', `${app.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
    });

    it('exports Prometheus metrics', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'gina' }));
      await publish(app.url, { users: ['gina'], type: 'm', payload: {} });
      await client.next('notification');
      const response = await http('GET', `${app.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      for (const name of ['herald_connections', 'herald_rooms', 'herald_frames_in_total', 'herald_notifications_published_total', 'herald_deliveries_total', 'herald_close_codes_total', 'herald_publish_to_send_seconds_bucket', 'herald_broker_up 1']) {
        expect(response.body).toContain(name);
      }
      expect(response.body).toMatch(/herald_connections [1-9]/);
      await client.close();
    });
  });
});

describe('a token-protected route without a valid token', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ MAX_PUBLISH_BYTES: '16384' })));
  afterAll(() => app.close());

  const bodies: Array<[string, { raw: string; headers?: Record<string, string> }]> = [
    ['malformed JSON', { raw: '{"users": [' }],
    ['a JSON scalar', { raw: '7' }],
    ['JSON nested 40 deep', { raw: `${'['.repeat(40)}${']'.repeat(40)}` }],
    ['a body over the limit', { raw: JSON.stringify({ blob: 'x'.repeat(20_000) }) }],
    ['a charset it does not read', { raw: '{}', headers: { 'content-type': 'application/json; charset=latin1' } }],
    ['a body that does not inflate', { raw: 'not gzip', headers: { 'content-encoding': 'gzip' } }],
    ['a Content-Encoding it does not read', { raw: '{}', headers: { 'content-encoding': 'foo' } }],
    ['a body that is not JSON', { raw: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
  ];
  const routes = ['/v1/notifications', '/v1/notifications/batch', '/v1/inbox/read'];

  it.each(routes.flatMap((route) => bodies.map(([what, body]) => [route, what, body] as const)))('answers POST %s with %s 401, before reading the body', async (route, _, body) => {
    for (const token of [null, 'not-a-jwt', signToken({ sub: 'x', ttlS: -60 })]) {
      const response = await http('POST', `${app.url}${route}`, { token, ...body });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.stringMatching(/bearer token/) });
    }
  });

  it('says when the token has expired, as the guard does', async () => {
    const response = await http('POST', `${app.url}/v1/notifications`, { token: signToken({ sub: 'x', ttlS: -60 }), raw: '{' });
    expect(response.body.message).toBe('The bearer token has expired');
  });

  it.each(['/v1/notifications', '/v1/notifications/batch'])('answers POST %s with a token without the scope 403 before reading the body, whatever it is', async (route) => {
    // A browser user's token: no megabyte of batch is read and parsed for it.
    const reader = signToken({ sub: 'reader' });
    for (const [, body] of [['valid', { raw: JSON.stringify({ users: ['a'], type: 't', payload: {} }) }] as const, ...bodies]) {
      const response = await http('POST', `${app.url}${route}`, { token: reader, ...body });
      expect(response.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'The token lacks the "notifications:publish" scope' });
    }
  });

  it('reads the body of a request whose token carries the scope: its errors come before the handler', async () => {
    expect((await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '{' })).status).toBe(400);
  });
});

/** A POST with a publisher token whose body is sent chunked under `transferEncoding`, as it stands. */
function postWithTransferEncoding(url: string, transferEncoding: string, body: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${publisherToken()}`, 'content-type': 'application/json', 'transfer-encoding': transferEncoding };
    const request = httpRequest(url, { method: 'POST', headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Sends `request` as written on a new connection and reads the answer until the server closes it. */
async function rawExchange(url: string, request: string): Promise<{ head: string; body: any }> {
  const socket = createConnection({ host: '127.0.0.1', port: Number(new URL(url).port) });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined); // a reset after the answer changes nothing
  socket.end(request);
  await new Promise((resolve) => socket.once('close', resolve));
  const headEnd = received.indexOf('\r\n\r\n');
  return { head: received.slice(0, headEnd), body: JSON.parse(received.slice(headEnd + 4)) };
}

/**
 * A publish sent as a client that honours `Expect: 100-continue` does: its body only once the
 * server says `100 Continue`. Whether it did, and the answer.
 */
function postExpectingContinue(url: string, headers: Record<string, string>, body: string): Promise<{ continued: boolean; status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const chunked = headers['transfer-encoding'] !== undefined;
    const all = { authorization: `Bearer ${publisherToken()}`, 'content-type': 'application/json', expect: '100-continue', ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers };
    const request = httpRequest(url, { method: 'POST', headers: all }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ continued, status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('continue', () => {
      continued = true;
      request.end(body);
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}
