import { createConnection } from 'node:net';
import { request as httpRequest } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';

/** A POST whose body is sent in chunks, without Content-Length, as a streaming client sends it. */
function postChunked(url: string, token: string, chunks: string[]): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    // The server may answer 413 and close before the last chunk is written.
    request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

/** A request with a body whatever its method (fetch sends none with GET). */
function rawRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: text === '' ? '' : JSON.parse(text) }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * A request sent as a client that honours `Expect: 100-continue` does: its body only once the
 * server says `100 Continue`. Whether it did, and the final answer.
 */
function withExpectContinue(url: string, headers: Record<string, string>, body: string): Promise<{ continued: boolean; status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const request = httpRequest(url, { method: 'POST', headers: { ...headers, expect: '100-continue', 'content-length': String(Buffer.byteLength(body)) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ continued, status: response.statusCode!, body: text === '' ? '' : JSON.parse(text) }));
    });
    request.on('continue', () => {
      continued = true;
      request.end(body);
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

/** Sends `head` (and `body`) as written on a new connection and reads the answer until the server closes it. */
async function rawAnswer(url: string, head: string, body = ''): Promise<string> {
  const socket = createConnection({ host: '127.0.0.1', port: Number(new URL(url).port) });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined); // a reset after the answer changes nothing
  socket.end(`${head}\r\n\r\n${body}`);
  await new Promise((resolve) => socket.once('close', resolve));
  return received;
}

/** The head of the answer to `head`, whatever its body. */
async function answerHead(url: string, head: string): Promise<string> {
  const received = await rawAnswer(url, head);
  return received.slice(0, received.indexOf('\r\n\r\n'));
}

/** Sends `head` (and `body`) as written, and reads the answer's status, head and JSON body. */
async function exchange(url: string, head: string, body = ''): Promise<{ status: number; head: string; body: unknown }> {
  const received = await rawAnswer(url, head, body);
  const headEnd = received.indexOf('\r\n\r\n');
  const text = received.slice(headEnd + 4);
  return { status: Number(received.slice(9, 12)), head: received.slice(0, headEnd), body: text === '' ? '' : JSON.parse(text) };
}

const nested = (levels: number) => `{"users":["u1"],"type":"t","payload":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;

describe('HTTP platform', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ MAX_PUBLISH_BYTES: '4096' })));
  afterAll(() => app.close());

  it('does not say what it runs on (no X-Powered-By)', async () => {
    const response = await http('GET', `${app.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-powered-by')).toBeNull();
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF8"', 'application/vnd.herald+json'])('reads a JSON body sent as %s', async (type) => {
    const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '{"users":["u1"],"type":"t","payload":{"n":1}}', headers: { 'content-type': type } });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id: expect.any(String), targets: 1 });
  });

  it.each(['application/json', 'application/json; charset=utf-8'])('refuses a body nested deeper than MAX_JSON_DEPTH sent as %s, and takes one at the limit', async (type) => {
    const over = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: nested(33), headers: { 'content-type': type } });
    expect(over.body).toEqual({ statusCode: 400, error: 'Bad Request', message: 'The JSON body is nested deeper than 32 levels' });
    // At the limit the depth check passes; validation then refuses the array payload by name.
    const at = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: nested(32), headers: { 'content-type': type } });
    expect(at.status).toBe(400);
    expect(JSON.stringify(at.body.message)).toContain('payload');
  });

  it.each(['application/json', 'application/json; charset=utf-8'])('answers 400 saying a JSON object is what it takes to any other JSON, a list included, sent as %s', async (type) => {
    for (const raw of ['42', '"text"', 'null', ' true', '[]', ' [{"users":["u1"],"type":"t","payload":{}}]']) {
      for (const path of ['/v1/notifications', '/v1/notifications/batch']) {
        const response = await http('POST', `${app.url}${path}`, { token: publisherToken(), raw, headers: { 'content-type': type } });
        expect(response).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The body must be a JSON object' } });
      }
    }
  });

  it('answers a POST without a body as one with an empty body, the targets rule included', async () => {
    const empty = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '' });
    expect(empty.body.message).toContain('rooms or users must name at least one target');
    for (const length of ['', '\r\nContent-Length: 0']) {
      const none = await exchange(app.url, `POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer ${publisherToken()}\r\nConnection: close${length}`);
      expect(none).toMatchObject({ status: 400, body: empty.body });
    }
  });

  it('names the first of several bad numbers, in the order they were sent', async () => {
    const payloads = [
      ['{"first":1e999,"second":1e999,"third":1e-400}', 'payload.first is a number too large for JSON'],
      ['{"list":[1,1e-400,1e999],"later":1e999}', 'payload.list.1 is a number too small for JSON: it would arrive as 0'],
    ];
    for (const [payload, message] of payloads) {
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: `{"users":["u1"],"type":"t","payload":${payload}}` });
      expect(response).toMatchObject({ status: 400, body: { message: [message] } });
    }
  });

  it('cuts what a 400 echoes to 500 characters a line, as an error frame does', async () => {
    // Within this app's MAX_PUBLISH_BYTES of 4096; the batch envelope reads up to a MiB.
    const key = 'k'.repeat(3_000);
    const bounded = /^[^…]{500}…$/u;
    for (const raw of [`{"users":["u1"],"type":"t","payload":{"${key}":1e999}}`, `{"users":["u1"],"type":"t","payload":{},"${key}":1}`]) {
      const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw });
      expect(response).toMatchObject({ status: 400, body: { message: [expect.stringMatching(bounded)] } });
    }
    const envelope = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw: `{"notifications":[{"users":["u1"],"type":"t","payload":{}}],"${'k'.repeat(60_000)}":1}` });
    expect(envelope).toMatchObject({ status: 400, body: { message: [expect.stringMatching(bounded)] } });
    const item = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw: `{"notifications":[{"users":["u1"],"type":"t","payload":{},"${key}":1}]}` });
    expect(item).toMatchObject({ status: 207, body: { results: [{ error: { statusCode: 400, message: expect.stringMatching(bounded) } }] } });
    expect(JSON.stringify((await http('GET', `${app.url}/${'p'.repeat(10_000)}`)).body).length).toBeLessThan(700);
  });

  it.each(['application/json', 'application/json; charset=utf-8'])('reads past a UTF-8 byte order mark sent as %s, as body-parser did', async (type) => {
    const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '\uFEFF{"users":["u1"],"type":"t","payload":{}}', headers: { 'content-type': type } });
    expect(response.status).toBe(202);
  });

  it.each(['application/json', 'application/json; charset=UTF-8'])('refuses a body that is not valid UTF-8 sent as %s, and delivers nothing', async (type) => {
    const user = `utf8-${type.length}`;
    const valid = Buffer.from(`{"users":["${user}"],"type":"t","payload":{"text":"caf\u00e9"}}`);
    // Each a way to break UTF-8: a byte that never occurs, a truncated sequence, an overlong
    // encoding and an encoded surrogate, put inside the payload's string.
    for (const bad of [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const at = valid.indexOf('caf') + 3;
      const body = Buffer.concat([valid.subarray(0, at), Buffer.from(bad), valid.subarray(at)]);
      const response = await fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': type }, body });
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The body is not valid UTF-8' } });
    }
    const fine = await fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': type }, body: valid });
    expect(fine.status).toBe(202);
    // Only the valid body reached the user (its inbox keeps every personal notification).
    const inbox = await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: user }) });
    expect(inbox.body.items.map((item: { payload: unknown }) => item.payload)).toEqual([{ text: 'caf\u00e9' }]);
  });

  it('answers 415 to a JSON body in a charset other than UTF-8, however deep it nests, and delivers nothing', async () => {
    const user = 'charset-user';
    // 300 levels, far past MAX_JSON_DEPTH, in ways a check of the raw bytes as UTF-8 cannot see.
    const deep = (open: string, close: string) => `{"users":["${user}"],"type":"t","payload":{"a":${open.repeat(300)}${close.repeat(300)}}}`;
    const bodies: Array<[string, Buffer]> = [
      // UTF-7 writes `[` as `+AFs-`.
      ['application/json; charset=utf-7', Buffer.from(deep('+AFs-', '+AF0-'))],
      // In UTF-16LE, U+2200 is the bytes 00 22: read as UTF-8, one quote too many, and the brackets after it look like a string.
      ['application/json; charset=UTF-16LE', Buffer.from(deep('[', ']').replace('"a":', '"a":["\u2200",').replace(/}}$/, ']}}'), 'utf16le')],
      ['application/json; charset=utf-16', Buffer.from(`{"users":["${user}"],"type":"t","payload":{}}`, 'utf16le')],
      ['application/vnd.herald+json; charset=utf-16be', Buffer.from(`{"users":["${user}"],"type":"t","payload":{}}`, 'utf16le').swap16()],
    ];
    for (const [type, body] of bodies) {
      const response = await fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': type }, body });
      const charset = type.slice(type.indexOf('charset=') + 8).toUpperCase();
      expect({ type, status: response.status, body: await response.json() }).toEqual({ type, status: 415, body: { statusCode: 415, error: 'Unsupported Media Type', message: `unsupported charset "${charset}"` } });
    }
    const inbox = await http('GET', `${app.url}/v1/inbox`, { token: signToken({ sub: user }) });
    expect(inbox.body.items).toEqual([]);
  });

  it('answers a GET whatever body it carries, as if it had none', async () => {
    const user = signToken({ sub: 'get-with-body' });
    for (const [type, body] of [['text/plain', 'hello'], ['application/x-www-form-urlencoded', 'a=1'], ['application/json', '{bad'], ['application/json; charset=utf-16', '{}']]) {
      for (const path of ['/healthz', '/readyz']) {
        expect({ path, type, status: (await rawRequest(`${app.url}${path}`, 'GET', { 'content-type': type }, body)).status }).toEqual({ path, type, status: 200 });
      }
      const inbox = await rawRequest(`${app.url}/v1/inbox`, 'GET', { 'content-type': type, authorization: `Bearer ${user}` }, body);
      expect({ type, status: inbox.status }).toEqual({ type, status: 200 });
    }
  });

  it.each(['h2c', 'TLS/1.2, HTTP/1.1', 'websocketx'])('serves a request offering Upgrade: %s as plain HTTP, as curl --http2 sends it', async (upgrade) => {
    const offer = { upgrade, connection: 'Upgrade, HTTP2-Settings', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' };
    expect((await rawRequest(`${app.url}/healthz`, 'GET', offer)).status).toBe(200);
    const body = JSON.stringify({ users: ['u1'], type: 'upgrade-offered', payload: {} });
    const published = await rawRequest(`${app.url}/v1/notifications`, 'POST', { ...offer, 'content-type': 'application/json', authorization: `Bearer ${publisherToken()}` }, body);
    expect(published).toMatchObject({ status: 202, body: { targets: 1 } });
    const unknown = await rawRequest(`${app.url}/nowhere`, 'GET', offer);
    expect(unknown).toMatchObject({ status: 404, body: { statusCode: 404, error: 'Not Found' } });
  });

  it('answers CONNECT 405 in the error shape, and goes on serving', async () => {
    const { port } = new URL(app.url);
    const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received).toMatch(/^HTTP\/1\.1 405 /);
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4))).toEqual({ statusCode: 405, error: 'Method Not Allowed', message: 'CONNECT is not supported' });
    expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
  });

  it('answers 400 in the error shape to HTTP/1.1 without a Host or with two, which RFC 9112 requires', async () => {
    expect(await exchange(app.url, 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b')).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The request has more than one Host header' } });
    expect(await exchange(app.url, 'GET /healthz HTTP/1.1')).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The request has no Host header, which HTTP/1.1 requires' } });
    expect(await exchange(app.url, 'GET /nowhere HTTP/1.1')).toMatchObject({ status: 400 });
    // HTTP/1.0 had no Host header to require.
    expect((await exchange(app.url, 'GET /healthz HTTP/1.0')).status).toBe(200);
    expect((await exchange(app.url, 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close')).status).toBe(200);
  });

  it.each([
    ['two Content-Type headers, JSON first', ['Content-Type: application/json', 'Content-Type: text/plain'], 'The request has more than one Content-Type header'],
    ['two Content-Type headers, JSON last', ['Content-Type: text/plain', 'Content-Type: application/json'], 'The request has more than one Content-Type header'],
    ['a charset named twice', ['Content-Type: application/json; charset=utf-8; charset=utf-16'], 'The Content-Type header names more than one charset'],
    ['a charset named twice, alike', ['Content-Type: application/json; charset=utf-8; Charset="UTF-8"'], 'The Content-Type header names more than one charset'],
  ])('answers 400 to %s, rather than reading the body by one of them', async (_, contentTypes, message) => {
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: {} });
    const head = ['POST /v1/notifications HTTP/1.1', 'Host: herald', `Authorization: Bearer ${publisherToken()}`, ...contentTypes, `Content-Length: ${body.length}`, 'Connection: close'].join('\r\n');
    expect(await exchange(app.url, head, body)).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
  });

  describe('Expect: 100-continue', () => {
    const body = JSON.stringify({ users: ['u1'], type: 't', payload: {} });
    const json = { 'content-type': 'application/json' };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    it('says 100 Continue once the request may go on, and takes the body', async () => {
      expect(await withExpectContinue(`${app.url}/v1/notifications`, { ...json, ...bearer(publisherToken()) }, body)).toEqual({ continued: true, status: 202, body: { id: expect.any(String), targets: 1 } });
    });

    it.each([
      ['no token', '/v1/notifications', json, 401],
      ['a token without the scope', '/v1/notifications', { ...json, ...bearer(signToken({ sub: 'browser' })) }, 403],
      ['a path no route serves', '/v1/nowhere', { ...json, ...bearer(publisherToken()) }, 404],
      ['a body that is not JSON', '/v1/notifications', { 'content-type': 'text/plain', ...bearer(publisherToken()) }, 415],
      ['a charset other than UTF-8', '/v1/notifications', { 'content-type': 'application/json; charset=utf-16', ...bearer(publisherToken()) }, 415],
    ])('answers %s with the refusal alone, so the body is never sent', async (_, path, headers, status) => {
      const response = await withExpectContinue(`${app.url}${path}`, headers as Record<string, string>, body);
      expect(response).toMatchObject({ continued: false, status, body: { statusCode: status } });
      expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
    });

    it('answers a Content-Length over the limit 413 before the body is sent', async () => {
      const big = JSON.stringify({ users: ['u1'], type: 't', payload: { blob: 'x'.repeat(5000) } });
      expect(await withExpectContinue(`${app.url}/v1/notifications`, { ...json, ...bearer(publisherToken()) }, big)).toMatchObject({ continued: false, status: 413, body: { statusCode: 413 } });
    });
  });

  it('tells browsers not to guess another type from the bytes of any answer: success, error, not found', async () => {
    const answers = await Promise.all([
      fetch(`${app.url}/healthz`),
      fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': 'application/json' }, body: JSON.stringify({ users: ['u1'], type: 't', payload: {} }) }),
      fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': 'application/json' }, body: '{"users":["u1"],"type":"<b>"}' }),
      fetch(`${app.url}/v1/notifications`, { method: 'POST', body: '{}' }),
      fetch(`${app.url}/nowhere`),
    ]);
    expect(answers.map((answer) => [answer.status, answer.headers.get('x-content-type-options')])).toEqual([
      [200, 'nosniff'],
      [202, 'nosniff'],
      [400, 'nosniff'],
      [401, 'nosniff'],
      [404, 'nosniff'],
    ]);
    // Answered before any of Fastify's hooks, or by Node itself, or to an upgrade not taken.
    for (const head of ['GET /v1/%zz HTTP/1.1\r\nHost: a\r\nConnection: close', 'POST /v1/notifications HTTP/1.1\r\nHost: a\r\nExpect: else\r\nConnection: close', 'GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']) {
      expect(await answerHead(app.url, head)).toMatch(/^x-content-type-options: nosniff$/im);
    }
  });

  it('answers an Expect it does not meet with 417 in the error shape', async () => {
    const response = await rawRequest(`${app.url}/v1/notifications`, 'POST', { expect: 'something-else', 'content-type': 'application/json', authorization: `Bearer ${publisherToken()}` }, '{}');
    expect(response).toMatchObject({ status: 417, body: { statusCode: 417, error: 'Expectation Failed', message: expect.stringContaining('100-continue') } });
    expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
  });

  it('reads an empty JSON body as {} and names the missing fields', async () => {
    const response = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: '' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body.message)).toContain('type');
  });

  it('answers 413 in the error shape to a body over MAX_PUBLISH_BYTES sent without Content-Length', async () => {
    const response = await postChunked(`${app.url}/v1/notifications`, publisherToken(), ['{"users":["u1"],"type":"t","payload":{"blob":"', 'x'.repeat(3000), 'x'.repeat(3000), '"}}']);
    expect(response).toEqual({ status: 413, body: { statusCode: 413, error: 'Payload Too Large', message: 'request entity too large' } });
  });

  it('accepts a chunked body within the limit', async () => {
    const response = await postChunked(`${app.url}/v1/notifications`, publisherToken(), ['{"users":["u1"],', '"type":"t","payload":{}}']);
    expect(response).toEqual({ status: 202, body: { id: expect.any(String), targets: 1 } });
  });

  it('answers 401 before reading whether the body is JSON, and 415 after', async () => {
    const anonymous = await http('POST', `${app.url}/v1/notifications`, { token: null, raw: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(anonymous.status).toBe(401);
    const text = await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(text.body).toEqual({ statusCode: 415, error: 'Unsupported Media Type', message: expect.stringContaining('application/json') });
  });

  it.each(['text/plain', '', ' ', 'json', 'application/', 'application/json, text/plain'])('answers a body sent as %j, not a JSON media type, 415 saying what to send', async (type) => {
    const body = '{"users":["u1"],"type":"t","payload":{}}';
    const anonymous = await rawRequest(`${app.url}/v1/notifications`, 'POST', { 'content-type': type }, body);
    expect(anonymous.status).toBe(401);
    const response = await rawRequest(`${app.url}/v1/notifications`, 'POST', { 'content-type': type, authorization: `Bearer ${publisherToken()}` }, body);
    expect([response.status, response.body]).toEqual([415, { statusCode: 415, error: 'Unsupported Media Type', message: 'The body must be JSON, sent with Content-Type: application/json' }]);
  });

  it('matches a route regardless of case and of a trailing slash, as Express did', async () => {
    expect((await http('POST', `${app.url}/V1/Notifications/`, { token: publisherToken(), body: { users: ['u1'], type: 't', payload: {} } })).status).toBe(202);
    expect((await http('GET', `${app.url}/HEALTHZ`)).status).toBe(200);
  });

  it('hands a room name of up to 128 characters in a path to the controller as sent, and names a longer one', async () => {
    const token = signToken({ sub: 'ops', scope: 'presence:read' });
    const room = `Chat:${'A'.repeat(123)}`;
    const longest = await http('GET', `${app.url}/v1/rooms/${room}/presence`, { token });
    expect(longest.status).toBe(200);
    expect(longest.body).toMatchObject({ room, users: [], connections: 0 });
    const tooLong = await http('GET', `${app.url}/v1/rooms/${room}x/presence`, { token });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body.message)).toContain('room');
  });

  it('answers a path with a malformed percent-encoding with 400 in the error shape, without repeating the path', async () => {
    for (const path of ['/v1/rooms/%zz/presence', '/v1/rooms/<script>%E0%A4%A/presence']) {
      const response = await http('GET', `${app.url}${path}`);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('not a valid URL path') });
      expect(JSON.stringify(response.body)).not.toContain('script');
    }
    // The server goes on answering.
    expect((await http('GET', `${app.url}/healthz`)).status).toBe(200);
  });

  const encoded = (body: Buffer, type: string, encoding: string) =>
    fetch(`${app.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': type, 'content-encoding': encoding }, body })
      .then(async (response) => ({ status: response.status, body: await response.json() }));
  const notification = Buffer.from('{"users":["u1"],"type":"t","payload":{"n":1}}');

  describe.each(['application/json', 'application/json; charset=utf-8'])('a body sent as %s', (type) => {
    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
      ['zstd', zstdCompressSync],
      ['GZIP', gzipSync],
      // RFC 9110, section 8.4.1.3: a recipient should read x-gzip as gzip.
      ['x-gzip', gzipSync],
      ['X-GZIP', gzipSync],
      ['identity', (body: Buffer) => body],
    ])('is read inflated with Content-Encoding %s', async (encoding, encode) => {
      expect(await encoded(encode(notification), type, encoding)).toEqual({ status: 202, body: { id: expect.any(String), targets: 1 } });
    });

    it('answers 415 naming a Content-Encoding it does not read', async () => {
      expect(await encoded(notification, type, 'foo')).toEqual({ status: 415, body: { statusCode: 415, error: 'Unsupported Media Type', message: 'unsupported content encoding "foo"' } });
    });

    it('answers 400 to a body that does not inflate as its Content-Encoding says', async () => {
      const response = await encoded(notification, type, 'gzip');
      expect(response).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: expect.stringContaining('not valid gzip data') } });
    });

    it.each([
      ['gzip members', 'gzip', gzipSync],
      ['zstd frames', 'zstd', zstdCompressSync],
    ])('reads a body sent as several %s whole', async (_, encoding, encode) => {
      const parts = Buffer.concat([encode(notification.subarray(0, 30)), encode(notification.subarray(30))]);
      expect(await encoded(parts, type, encoding)).toEqual({ status: 202, body: { id: expect.any(String), targets: 1 } });
    });

    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
      ['zstd', zstdCompressSync],
    ])('answers 400 to a %s body cut short, followed by other bytes, or empty, instead of reading what inflates', async (encoding, encode) => {
      const whole = encode(notification);
      for (const body of [whole.subarray(0, whole.length - 6), whole.subarray(0, whole.length >> 1), Buffer.concat([whole, Buffer.from('GARBAGE')]), Buffer.alloc(0)]) {
        expect(await encoded(body, type, encoding)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: expect.stringContaining(`not valid ${encoding} data`) } });
      }
    });

    it('answers 413 to a body over MAX_PUBLISH_BYTES once inflated, however small compressed', async () => {
      const big = gzipSync(`{"users":["u1"],"type":"t","payload":{"blob":"${'x'.repeat(100_000)}"}}`);
      expect(big.length).toBeLessThan(4096);
      expect(await encoded(big, type, 'gzip')).toEqual({ status: 413, body: { statusCode: 413, error: 'Payload Too Large', message: 'request entity too large' } });
    });
  });

  it('never echoes a query string in a 404, where a token may sit (a plain GET of /ws?token=...)', async () => {
    for (const path of ['/ws?token=secret-token-text', '/nope?token=secret-token-text']) {
      const response = await http('GET', `${app.url}${path}`, { token: null });
      expect(response.status).toBe(404);
      expect(JSON.stringify(response.body)).not.toContain('secret-token-text');
      expect(response.body).toEqual({ statusCode: 404, error: 'Not Found', message: `Cannot GET ${path.slice(0, path.indexOf('?'))}` });
    }
  });

  it('answers an unknown path with 404 in the error shape, whatever its body', async () => {
    const response = await publish(`${app.url}/v1/nowhere`, {});
    expect(response.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot POST /v1/nowhere/v1/notifications' });
    for (const [raw, type] of [['{bad', 'application/json'], [nested(40), 'application/json'], ['{}', 'application/json; charset=bogus'], ['x'.repeat(5000), 'application/json']]) {
      const answer = await http('POST', `${app.url}/nope`, { token: null, raw, headers: { 'content-type': type } });
      expect(answer).toMatchObject({ status: 404, body: { statusCode: 404, error: 'Not Found' } });
    }
    expect((await http('GET', `${app.url}/nope`)).body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot GET /nope' });
  });
});
