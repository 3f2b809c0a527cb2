import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { eventually } from '../support/eventually';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { rawUpgrade } from '../support/raw-upgrade';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

/** A JSON text of `levels` arrays inside one another: `[[[…]]]`. */
const nestedArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
/** A JSON text of `levels` objects inside one another: `{"a":{"a":…{}}}`. */
const nestedObjects = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);

/** Everything the process writes to stdout/stderr while `run` runs (the logger writes there). */
async function outputDuring(run: () => Promise<void>): Promise<string> {
  const written: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }),
  );
  try {
    await run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return written.join('');
}

/** The subprotocol the server selects for an upgrade offering `offered` (undefined: none). */
function selectedProtocol(app: TestApp, offered: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${app.url}/ws`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': offered,
      },
    });
    request.on('upgrade', (response: IncomingMessage, socket) => {
      socket.destroy();
      resolve(response.headers['sec-websocket-protocol']);
    });
    request.on('response', (response) => reject(new Error(`no upgrade: HTTP ${response.statusCode}`)));
    request.on('error', reject);
    request.end();
  });
}

describe('hostile input', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  describe('frames nested too deeply (MAX_JSON_DEPTH, default 32)', () => {
    let mallory: TestClient;
    beforeEach(async () => (mallory = await connectClient(app.wsUrl, signToken({ sub: 'mallory', rooms: ['chat:*'] }))));
    afterEach(() => mallory.close());

    it('answers bad_request to a join whose since is 32,000 arrays deep, logs nothing, and keeps the connection', async () => {
      const output = await outputDuring(async () => {
        for (let i = 0; i < 5; i++) mallory.socket.send(`{"event":"join","id":"deep${i}","data":{"room":"chat:1","since":${nestedArrays(32_000)}}}`);
        for (let i = 0; i < 5; i++) {
          const reply = await mallory.waitFor((frame) => frame.id === `deep${i}`);
          expect(reply).toEqual({ event: 'error', id: `deep${i}`, data: { code: 'bad_request', message: 'Frame is nested deeper than 32 levels', event: 'join' } });
        }
      });
      expect(output).toBe('');
      expect((await mallory.request('join', { room: 'chat:1' })).event).toBe('joined');
    });

    it('answers bad_request to a deep frame whose id a double does not hold, and the pod lives on', async () => {
      // Such an id is echoed as written, by a second parse whose reviver recursed: a frame
      // 2,500 levels deep overflowed the stack and took the process down.
      const output = await outputDuring(async () => {
        for (const id of ['1.5', '-0', '9007199254740993']) {
          mallory.socket.send(`{"event":"ping","id":${id},"x":${nestedArrays(32_000)}}`);
          const reply = await mallory.waitFor((frame) => frame.event === 'error');
          expect(reply).toEqual({ event: 'error', id: JSON.parse(id), data: { code: 'bad_request', message: 'Frame is nested deeper than 32 levels', event: 'ping' } });
        }
      });
      expect(output).toBe('');
      expect((await mallory.request('ping')).event).toBe('pong');
    });

    it('answers a frame with a list in a field in the words it has for an empty one, and one with a wide list unparsed', async () => {
      // Ten little lists (40 values, the frame's own 6 besides): within FRAME_VALUES_MAX, refused without walking them.
      // 7,000 of them: refused before the frame is parsed.
      const list = (count: number) => `[${Array(count).fill('[[[[]]]]').join(',')}]`;
      const cases = [['text', list(10)], ['x', list(10)], ['room', `{"a":${list(10)}}`], ['text', list(7000)], ['x', list(7000)]];
      for (const [at, [field, value]] of cases.entries()) {
        const fields = (v: string) => ({ room: '"chat:1"', text: '"hi"', [field]: v });
        const frame = (id: string, v: string) => `{"event":"message","id":"${id}","data":{${Object.entries(fields(v)).map(([k, f]) => `"${k}":${f}`).join(',')}}}`;
        mallory.socket.send(frame(`list-${at}`, value));
        mallory.socket.send(frame(`empty-${at}`, value.startsWith('[') ? '[]' : '{}'));
        const listReply = await mallory.waitFor((reply) => reply.id === `list-${at}`);
        const emptyReply = await mallory.waitFor((reply) => reply.id === `empty-${at}`);
        expect(listReply.data).toMatchObject({ code: 'bad_request', event: 'message' });
        if (value.length < 1000) expect(listReply.data).toEqual(emptyReply.data);
        else expect(listReply.data).toMatchObject({ message: expect.stringMatching(/^Frame holds more than 64 members and list elements/) });
      }
      expect((await mallory.request('ping')).event).toBe('pong');
    });

    it('answers a 60 KB event or field name with an error far smaller than the frame, echoing the id', async () => {
      const name = 'é'.repeat(30_000);
      const answers: string[] = [];
      const listener = (raw: Buffer) => answers.push(raw.toString());
      mallory.socket.on('message', listener);
      try {
        mallory.socket.send(`{"event":"${name}","id":"long-event"}`);
        mallory.socket.send(`{"event":"ping","id":"long-field","data":{"${name}":1}}`);
        mallory.socket.send(`{"event":"message","id":"long-data","data":{"room":"chat:1","text":"hi","${name}":1}}`);
        for (const id of ['long-event', 'long-field', 'long-data']) {
          const reply = await mallory.waitFor((frame) => frame.id === id);
          expect(reply.data).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/…$/) });
          expect((reply.data as { message: string }).message.length).toBeLessThanOrEqual(501);
          // No event of the contract is that long: it is not echoed.
          if (id === 'long-event') expect(reply.data).not.toHaveProperty('event');
        }
        for (const raw of answers) expect(Buffer.byteLength(raw)).toBeLessThan(2_000);
      } finally {
        mallory.socket.off('message', listener);
      }
      expect((await mallory.request('ping')).event).toBe('pong');
    });

    it('answers bad_request to an extra field 10,000 objects deep', async () => {
      mallory.socket.send(`{"event":"message","id":"x","data":{"room":"chat:1","text":"hi","extra":${nestedObjects(10_000)}}}`);
      expect((await mallory.waitFor((frame) => frame.id === 'x')).data).toMatchObject({ code: 'bad_request' });
      expect((await mallory.request('ping')).event).toBe('pong');
    });

    it('counts the frame object itself as the first level', async () => {
      // Level 1 the frame, 2 data, then 30 more: 32 in all passes the depth check (and fails
      // validation for the unknown field instead); one more level is refused for its depth.
      mallory.socket.send(`{"event":"message","id":"at","data":{"room":"chat:1","text":"hi","extra":${nestedArrays(30)}}}`);
      mallory.socket.send(`{"event":"message","id":"over","data":{"room":"chat:1","text":"hi","extra":${nestedArrays(31)}}}`);
      // The depth refusal is synchronous and may overtake the validation failure: match by id.
      const replyTo = (id: string) =>
        eventually(() => {
          const reply = mallory.frames.find((frame) => frame.id === id);
          if (!reply) throw new Error(`no reply to ${id} yet`);
          return reply;
        });
      expect((await replyTo('at')).data.message).toBe('property extra should not exist');
      expect((await replyTo('over')).data.message).toBe('Frame is nested deeper than 32 levels');
    });
  });

  describe('HTTP bodies nested too deeply', () => {
    it('answers 400, not 500, to a mark-read whose ids are 30,000 arrays deep', async () => {
      const response = await http('POST', `${app.url}/v1/inbox/read`, { token: signToken({ sub: 'mallory' }), raw: `{"ids":${nestedArrays(30_000)}}` });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: 'The JSON body is nested deeper than 32 levels' });
    });

    it('answers 400 to a publish whose payload is 5,000 objects deep and delivers nothing', async () => {
      const victim = await connectClient(app.wsUrl, signToken({ sub: 'victim' }));
      const output = await outputDuring(async () => {
        const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["victim"],"type":"deep","payload":${nestedObjects(5_000)}}` });
        expect(response.status).toBe(400);
      });
      expect(output).toBe('');
      await publish(app.url, { users: ['victim'], type: 'marker', payload: {} });
      await victim.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(victim.all('notification').map((frame) => frame.data.type)).toEqual(['marker']);
      await victim.close();
    });

    it('accepts a body nested exactly 32 levels and refuses 33', async () => {
      // Level 1 the body, 2 the payload, then 30 more.
      const at = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["x"],"type":"t","payload":{"a":${nestedArrays(30)}}}` });
      const over = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["x"],"type":"t","payload":{"a":${nestedArrays(31)}}}` });
      expect(at.status).toBe(202);
      expect(over.status).toBe(400);
    });
  });

  describe('null where a list or value is expected', () => {
    it.each([
      ['rooms', { rooms: null, users: ['bob'], type: 't', payload: {} }],
      ['users', { rooms: ['a'], users: null, type: 't', payload: {} }],
      ['id', { users: ['bob'], type: 't', payload: {}, id: null }],
    ])('answers 400 naming %s', async (field, body) => {
      const response = await publish(app.url, body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
    });

    it('answers 400 to a mark-read with all: null', async () => {
      const response = await http('POST', `${app.url}/v1/inbox/read`, { token: signToken({ sub: 'bob' }), body: { all: null } });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('all');
    });
  });

  describe('bodies that are not JSON, and unknown fields', () => {
    const body = JSON.stringify({ users: ['bob'], type: 't', payload: {} });

    it('answers 415 to a JSON body sent without a Content-Type', async () => {
      const response = await fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}` }, body: new TextEncoder().encode(body) });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type', message: expect.stringContaining('application/json') });
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded'])('answers 415 to a body sent as %s', async (type) => {
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: body, headers: { 'content-type': type } });
      expect(response.status).toBe(415);
    });

    it('still answers 401 before 415 without a token, and 404 for an unknown path', async () => {
      expect((await http('POST', `${app.url}/v1/notifications`, { token: null, raw: body, headers: { 'content-type': 'text/plain' } })).status).toBe(401);
      expect((await http('POST', `${app.url}/v1/nothing-here`, { raw: body, headers: { 'content-type': 'text/plain' } })).status).toBe(404);
    });

    it('answers 400 naming an unknown field, such as room for rooms, and delivers nothing', async () => {
      const response = await publish(app.url, { room: ['a'], users: ['bob'], type: 't', payload: {} });
      expect(response.status).toBe(400);
      expect(response.body.message).toContain('property room should not exist');
    });

    it('refuses thousands of unknown fields at once, naming the first ten, in a body, a batch item and a mark-read, and a frame of them unparsed', async () => {
      const many = Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`k${i}`, 1]));
      const named = Array.from({ length: 10 }, (_, i) => `property k${i} should not exist`);
      const rest = 'and 5990 more properties that should not exist';
      const zoe = await connectClient(app.wsUrl, signToken({ sub: 'zoe' }));
      expect(await publish(app.url, { users: ['zoe'], type: 'many', payload: {}, ...many })).toMatchObject({ status: 400, body: { message: [...named, rest] } });
      const batch = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), body: { notifications: [{ users: ['zoe'], type: 'many', payload: {}, ...many }] } });
      expect(batch.body.results).toEqual([{ error: { statusCode: 400, message: [...named.map((message, i) => `notifications.0.k${i}: ${message}`), `notifications.0: ${rest}`].join('; ') } }]);
      const read = await http('POST', `${app.url}/v1/inbox/read`, { token: signToken({ sub: 'zoe' }), body: { all: true, ...many } });
      expect(read).toMatchObject({ status: 400, body: { message: [...named, rest] } });
      // A frame holds a few fields at most: one of more than 64 members and elements is refused before it is parsed.
      zoe.send({ event: 'join', id: 'many', data: { room: 'public:many', ...many } });
      expect((await zoe.waitFor((frame) => frame.id === 'many')).data).toEqual({ code: 'bad_request', message: 'Frame holds more than 64 members and list elements; no event has more than a few fields', event: 'join' });
      // Nothing was delivered, and the connection lives on.
      expect((await zoe.request('join', { room: 'public:many' })).event).toBe('joined');
      expect(zoe.all('notification')).toEqual([]);
      await zoe.close();
    });

    it.each(['constructor', 'toString', '__proto__'])('answers 400 naming a field called %s (Object.prototype names the whitelist cannot see), and delivers nothing', async (key) => {
      const zed = await connectClient(app.wsUrl, signToken({ sub: 'zed' }));
      const hostile = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["zed"],"type":"hostile","payload":{},"${key}":{"a":1}}` });
      expect(hostile.status).toBe(400);
      expect(hostile.body).toEqual({ statusCode: 400, error: 'Bad Request', message: [`property ${key} should not exist`] });
      const item = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw: `{"notifications":[{"users":["zed"],"type":"hostile","payload":{},"${key}":1}]}` });
      // Refused as that item's own unknown field, as any other would be (207, per item).
      expect(item.status).toBe(207);
      expect(item.body).toEqual({ accepted: 0, failed: 1, results: [{ error: { statusCode: 400, message: `notifications.0.${key}: property ${key} should not exist` } }] });
      zed.socket.send(`{"event":"join","id":"proto","data":{"room":"chat:proto","${key}":1}}`);
      expect((await zed.waitFor((frame) => frame.id === 'proto')).data).toEqual({ code: 'bad_request', message: `property ${key} should not exist`, event: 'join' });
      expect((await publish(app.url, { users: ['zed'], type: 'marker', payload: {} })).status).toBe(202);
      await zed.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
      expect(zed.frames.filter((frame) => frame.event === 'notification').map((frame) => frame.data.type)).toEqual(['marker']);
      await zed.close();
    });
  });

  describe('subprotocols', () => {
    const token = () => signToken({ sub: 'proto' });
    it('selects herald.v1 when offered, whatever else is', async () => {
      expect(await selectedProtocol(app, `x, herald.v1, bearer.${token()}`)).toBe('herald.v1');
    });

    it('echoes bearer.<JWT> when it is the only protocol offered', async () => {
      const only = `bearer.${token()}`;
      expect(await selectedProtocol(app, only)).toBe(only);
    });

    it('reads a list with empty elements or repeats as the list without them, instead of a bare 400', async () => {
      const bearer = `bearer.${token()}`;
      expect(await selectedProtocol(app, `herald.v1,,${bearer}`)).toBe('herald.v1');
      expect(await selectedProtocol(app, `herald.v1, herald.v1, ${bearer}`)).toBe('herald.v1');
      expect(await selectedProtocol(app, `,${bearer}, ${bearer},`)).toBe(bearer);
    });

    it('never selects a protocol it does not speak', async () => {
      expect(await selectedProtocol(app, `x, bearer.${token()}`)).toBeUndefined();
      expect(await selectedProtocol(app, [...Array.from({ length: 1000 }, (_, i) => `p${i}`), `bearer.${token()}`].join(', '))).toBeUndefined();
    });
  });

  describe('close codes that tell the client the truth', () => {
    it('closes a message sent in more fragments than ws assembles with 1009 message_too_big, not 1008', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'frag' }));
      for (let i = 0; i < 20_000; i++) client.socket.send('a', { fin: false });
      client.socket.send('a', { fin: true });
      expect(await client.closed).toEqual({ code: 1009, reason: 'message_too_big' });
    });

    it('closes a frame that declares a length past 2^53 with 1009 message_too_big, not a bare 1009', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'huge-length' }));
      // FIN + text, masked, 127: a 64-bit length follows (2^62), then a mask key; no payload needed.
      const header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(2n ** 62n, 2);
      (client.socket as unknown as { _socket: { write(data: Buffer): void } })._socket.write(header);
      expect(await client.closed).toEqual({ code: 1009, reason: 'message_too_big' });
    });

    it('closes a flood of protocol pings with 4029 rate_limited and a close frame, not a bare 1006', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'pinger' }));
      for (let i = 0; i < 20_000; i++) client.socket.ping();
      expect(await client.closed).toEqual({ code: 4029, reason: 'rate_limited' });
    });

    it('closes a flood of unsolicited protocol pongs with 4029 rate_limited, and counts them', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'ponger' }));
      const limitedBefore = rateLimitedCount(await metricsText(app));
      for (let i = 0; i < 20_000; i++) client.socket.pong();
      expect(await client.closed).toEqual({ code: 4029, reason: 'rate_limited' });
      expect(rateLimitedCount(await metricsText(app))).toBeGreaterThan(limitedBefore);
    });

    it('answers protocol pings within the rate limit', async () => {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'pinger2' }));
      const pong = new Promise<Buffer>((resolve) => client.socket.once('pong', resolve));
      client.socket.ping('hello');
      expect((await pong).toString()).toBe('hello');
      await client.close();
    });
  });
});

async function metricsText(app: TestApp): Promise<string> {
  return (await fetch(`${app.url}/metrics`)).text();
}

function rateLimitedCount(metrics: string): number {
  return Number(/^herald_rate_limited_total (\d+)/m.exec(metrics)?.[1] ?? 0);
}

describe('clients that hang up in the middle of a body', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it('are not logged as server errors (anyone could fill the log with stack traces)', async () => {
    const { port } = new URL(app.url);
    const output = await outputDuring(async () => {
      for (let i = 0; i < 3; i++) {
        const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
        await new Promise<void>((resolve) => socket.once('connect', resolve));
        socket.write(`POST /v1/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type":"half`);
        // Once the server has read the partial body: the next request on another connection is answered.
        expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
        socket.destroy();
        expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
      }
      expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
    });
    expect(output).not.toMatch(/ERROR|aborted/);
  });
});

describe('clients that break WebSocket framing', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  /** A client frame: FIN and `opcode`, masked unless told otherwise. */
  const frame = (opcode: number, payload: Buffer, masked = true) => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const body = masked ? Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4])) : payload;
    return Buffer.concat([Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]), masked ? mask : Buffer.alloc(0), body]);
  };
  /** The code of the close frame the server wrote last (latin1 text of everything it wrote). */
  const closeCodeOf = (received: string) => {
    const bytes = Buffer.from(received, 'latin1');
    const at = bytes.lastIndexOf(0x88);
    return at >= 0 && bytes[at + 1] >= 2 ? bytes.readUInt16BE(at + 2) : undefined;
  };

  it.each([
    ['an unmasked frame', frame(0x1, Buffer.from('{"event":"ping"}'), false), 1002],
    ['a reserved opcode', frame(0x3, Buffer.from('x')), 1002],
  ])('closes %s with the code RFC 6455 gives it (docs/protocol.md, section 5), and serves others', async (_, bytes, code) => {
    const received = await rawUpgrade(app.wsUrl, { token: signToken({ sub: 'framer' }) }, bytes).closed;
    expect(received).toMatch(/^HTTP\/1\.1 101 /);
    expect(closeCodeOf(received)).toBe(code);
    const next = await connectClient(app.wsUrl, signToken({ sub: 'after-framer' }));
    expect(next.frames[0].event).toBe('welcome');
    await next.close();
  });

  it('answers a close frame whose reason is not UTF-8 with 1007, not an echo of those bytes (RFC 6455, 8.1)', async () => {
    const closeWithReason = (reason: Buffer) => frame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), reason]));
    const counted = async () => Number(/herald_close_codes_total\{code="1007"\} (\d+)/.exec(await metricsText(app))?.[1] ?? 0);
    const countedBefore = await counted();
    const refused = await rawUpgrade(app.wsUrl, { token: signToken({ sub: 'closer' }) }, closeWithReason(Buffer.from([0x62, 0x79, 0x65, 0xff]))).closed;
    expect(closeCodeOf(refused)).toBe(1007);
    // Counted as the pod's close, not as the 1000 the client sent.
    await eventually(async () => expect(await counted()).toBe(countedBefore + 1));
    expect(Buffer.from(refused, 'latin1').includes(Buffer.from([0x62, 0x79, 0x65, 0xff]))).toBe(false);
    // A UTF-8 reason is echoed with its code, as ws does.
    const echoed = await rawUpgrade(app.wsUrl, { token: signToken({ sub: 'closer' }) }, closeWithReason(Buffer.from('bye'))).closed;
    expect(closeCodeOf(echoed)).toBe(1000);
    expect(echoed.endsWith('bye')).toBe(true);
  });

  it('answers a text frame that is not UTF-8 bad_request with its id, as any malformed frame, and keeps the connection (section 2)', async () => {
    const client = await connectClient(app.wsUrl, signToken({ sub: 'latin1', rooms: ['chat:*'] }));
    const frameWith = (text: Buffer) => Buffer.concat([Buffer.from('{"event":"message","data":{"room":"chat:bytes","text":"'), text, Buffer.from('"},"id":"bytes"}')]);
    await client.join('chat:bytes');
    client.socket.send(frameWith(Buffer.from([0x63, 0x61, 0x66, 0xe9])), { binary: false });
    const refused = await client.next('error');
    expect(refused).toEqual({ event: 'error', id: 'bytes', data: { code: 'bad_request', message: 'Frame is not valid UTF-8 text', event: 'message' } });
    // Split between fragments, a character is whole in the message: taken.
    const accent = Buffer.from('é');
    client.socket.send(Buffer.concat([Buffer.from('{"event":"message","data":{"room":"chat:bytes","text":"caf'), accent.subarray(0, 1)]), { binary: false, fin: false });
    client.socket.send(Buffer.concat([accent.subarray(1), Buffer.from('"},"id":"split"}')]), { fin: true });
    expect(await client.next('message')).toMatchObject({ data: { room: 'chat:bytes', text: 'café' } });
    expect((await client.request('ping')).event).toBe('pong');
    expect(client.closeInfo).toBeUndefined();
    await client.close();
  });

  it('answers a subprotocol list that is not a list of tokens 400 before reading any token', async () => {
    const received = await rawUpgrade(app.wsUrl, { headers: `Sec-WebSocket-Protocol: herald.v1; bearer.${signToken({ sub: 'semi' })}\r\n` }).closed;
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).not.toContain('bearer.');
  });
});

/** A raw TCP connection to the app: what it was sent back, and when it closed (ms after opening). */
function rawConnectionTo(app: TestApp): { socket: Socket; received: () => string; closedAfterMs: Promise<number> } {
  const { port } = new URL(app.url);
  const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const openedAt = Date.now();
  const closedAfterMs = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - openedAt)));
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closedAfterMs };
}

describe('a request with two Authorization headers', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it.each([
    ['a valid token first', [publisherToken(), 'not-a-token']],
    ['a valid token last', ['not-a-token', publisherToken()]],
    ['the same valid token twice', [publisherToken(), publisherToken()]],
  ])('is refused 401 with %s: Node would read the first, a proxy in front may have checked the last', async (_, tokens) => {
    const { socket, received, closedAfterMs } = rawConnectionTo(app);
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: {} });
    const authorization = tokens.map((token) => `Authorization: Bearer ${token}\r\n`).join('');
    socket.end(`POST /v1/notifications HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${authorization}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await closedAfterMs;
    expect(received()).toMatch(/^HTTP\/1\.1 401 /);
  });
});

describe('a header sent twice with a thousand other headers between the two', () => {
  // Node keeps only the first 1,000 or so header lines of a request unless told otherwise: a
  // second Authorization, Host or Content-Type past them went unseen, and the first was believed.
  const padding = Array.from({ length: 1100 }, (_, index) => `x-${index}: a\r\n`).join('');
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it.each([
    ['Authorization', 401, `Authorization: Bearer ${publisherToken()}\r\n${padding}Authorization: Bearer not-a-token\r\nContent-Type: application/json\r\n`],
    ['Content-Type', 400, `Authorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\n${padding}Content-Type: text/plain\r\n`],
    ['Host', 400, `Authorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\n${padding}Host: elsewhere\r\n`],
  ])('a publish with two %s headers is refused %i', async (_, status, headers) => {
    const { socket, received, closedAfterMs } = rawConnectionTo(app);
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: {} });
    socket.end(`POST /v1/notifications HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers}Content-Length: ${body.length}\r\n\r\n${body}`);
    await closedAfterMs;
    expect(received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  });

  it.each([
    ['Authorization headers', `Authorization: Bearer ${signToken({ sub: 'first' })}\r\n${padding}Authorization: Bearer ${signToken({ sub: 'last' })}\r\n`],
    ['bearer subprotocols', `Sec-WebSocket-Protocol: herald.v1, bearer.${signToken({ sub: 'first' })}\r\n${padding}Sec-WebSocket-Protocol: bearer.${signToken({ sub: 'last' })}\r\n`],
  ])('a connection with two %s is refused with 1008, not welcomed as the first', async (_, headers) => {
    const upgrade = rawUpgrade(app.wsUrl, { headers });
    try {
      // The close frame: opcode 8, then its code, 1008 (0x03f0).
      await eventually(() => expect(upgrade.received()).toContain('\x88'), 10_000);
      const frames = upgrade.received().slice(upgrade.received().indexOf('\r\n\r\n') + 4);
      expect(frames).not.toContain('welcome');
      expect(frames.slice(frames.indexOf('\x88') + 2, frames.indexOf('\x88') + 4)).toBe('\x03\xf0');
    } finally {
      upgrade.hangUp();
    }
  });
});

describe('clients that never finish their body (HTTP_REQUEST_TIMEOUT_MS)', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000' })));
  afterAll(() => app.close());

  it('answers 408 and closes a publish whose body trickles in past the limit, and still serves others', async () => {
    const { socket, received, closedAfterMs } = rawConnectionTo(app);
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: {} });
    socket.write(`POST /v1/notifications HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    // Headers in time, then one byte of the body every 200 ms: it would take 10 s.
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < body.length - 1) socket.write(body[sent++]);
    }, 200);
    try {
      expect(await closedAfterMs).toBeGreaterThanOrEqual(2000);
      expect(received()).toMatch(/^HTTP\/1\.1 408 /);
      expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
    } finally {
      clearInterval(trickle);
    }
  });
});

describe('clients that wait before they trickle (the limits count from the connection)', () => {
  // Node times a request from its first byte: a client silent for almost the headers limit, which
  // then trickled, held its socket that long again (headers) or the request limit again (a body).
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ HTTP_HEADERS_TIMEOUT_MS: '3000', HTTP_REQUEST_TIMEOUT_MS: '3000' })));
  afterAll(() => app.close());

  /** Sends `head` after 2.5 s of silence, then one byte of `trickled` every 200 ms; how long the connection lived, and what it was answered. */
  async function waitThenTrickle(head: string, trickled: string): Promise<{ closedAfterMs: number; answer: string }> {
    const { socket, received, closedAfterMs } = rawConnectionTo(app);
    let trickle: NodeJS.Timeout | undefined;
    const start = setTimeout(() => {
      socket.write(head);
      let sent = 0;
      trickle = setInterval(() => sent < trickled.length && socket.write(trickled[sent++]), 200);
    }, 2500);
    try {
      return { closedAfterMs: await closedAfterMs, answer: received() };
    } finally {
      clearTimeout(start);
      clearInterval(trickle);
    }
  }

  it('answers 408 to headers begun late and trickled, and to a body trickled after headers sent late, within the limits of the connection', async () => {
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: { text: 'x'.repeat(100) } });
    const publishHead = `POST /v1/notifications HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${publisherToken()}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    // Both at once: each takes the limit and up to a second of Node's check.
    const [headers, trickledBody] = await Promise.all([
      waitThenTrickle('GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n'.repeat(100)),
      waitThenTrickle(publishHead, body),
    ]);
    for (const { closedAfterMs, answer } of [headers, trickledBody]) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      // 3 s, plus at most a second for the check; timed from the first byte it was 5.5 s or more.
      expect(closedAfterMs).toBeLessThan(5000);
    }
  });

  it('leaves a keep-alive connection that answered its first request to Node\'s own limits', async () => {
    const { socket, received, closedAfterMs } = rawConnectionTo(app);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await eventually(() => expect(received()).toMatch(/^HTTP\/1\.1 200 /));
    // Well past the connection's headers limit, a second request on it is answered.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await closedAfterMs;
    expect(received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });
});

describe('clients that never finish their headers (HTTP_HEADERS_TIMEOUT_MS)', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ HTTP_HEADERS_TIMEOUT_MS: '1000' })));
  afterAll(() => app.close());

  const rawConnection = () => rawConnectionTo(app);

  it('answers 408 and closes a handshake whose headers trickle in past the limit', async () => {
    const slow = rawConnection();
    slow.socket.write(`GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n`);
    // One more header line every 200 ms: never the blank line that ends them.
    const trickle = setInterval(() => slow.socket.write(`X-Slow-${Date.now()}: 1\r\n`), 200);
    try {
      const closedAfterMs = await slow.closedAfterMs;
      expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
      // Not before the limit; Node checks once a second, so within a few seconds of it.
      expect(closedAfterMs).toBeGreaterThanOrEqual(1000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('closes a connection that sends nothing at all', async () => {
    const silent = rawConnection();
    expect(await silent.closedAfterMs).toBeGreaterThanOrEqual(1000);
    // Node answers a connection that never began a request by closing it, with no response.
    expect(silent.received()).not.toMatch(/^HTTP\/1\.1 [^4]/);
  });

  it('still admits a WebSocket whose handshake arrives in time, and keeps it past the limit', async () => {
    const client = await connectClient(app.wsUrl, signToken({ sub: 'patient' }));
    // Opened after the client: once it is cut off, Node's check has run past the client's limit too.
    const silent = rawConnection();
    await silent.closedAfterMs;
    expect(client.closeInfo).toBeUndefined();
    expect((await client.request('ping', undefined)).event).toBe('pong');
    await client.close();
  });

  it('refuses a value under a second at start-up, naming the variable', async () => {
    await expect(createTestApp({ HTTP_HEADERS_TIMEOUT_MS: '10' })).rejects.toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});
