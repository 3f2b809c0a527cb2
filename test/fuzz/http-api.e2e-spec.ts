import fc from 'fast-check';
import { eventually } from '../support/eventually';
import { fuzzParameters, fuzzTimeoutMs, FUZZ_APP_SETTINGS } from '../support/fuzz';
import { anyJsonValue, deepJsonValue, mutatedObject, trickyString } from '../support/json-arbitraries';
import { http, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

const MAX_BODY_BYTES = 4096;
const TARGET_ROOM = 'public:fuzz-target';
const TARGET_USER = 'target';
const READER = 'reader';

/** A request as the fuzz sends it: headers and body both arbitrary. */
interface FuzzRequest {
  authorization: string | undefined;
  contentType: string | undefined;
  body: string | undefined;
}

const authorization = (valid: string) =>
  fc.oneof(
    { arbitrary: fc.constant(`Bearer ${valid}`), weight: 6 },
    fc.constantFrom(undefined, '', 'Bearer', 'Basic dXNlcjpwdw==', `bearer ${valid}`, `Bearer ${valid}x`, `Bearer  ${valid} `, `Bearer ${signToken({ sub: 'nobody' })}`),
    // Printable ASCII only: fetch refuses control characters in a header before sending.
    fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((text) => `Bearer ${text}`),
  );

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 6 },
  fc.constantFrom(undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/vnd.api+json', 'application/jsonx', 'APPLICATION/JSON', 'json', ''),
);

/** A JSON body from a valid-looking DTO, mutated; sometimes any JSON, any text, too deep or too big. */
const body = (valid: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof(
    { arbitrary: mutatedObject(valid).map((value) => JSON.stringify(value)), weight: 6 },
    anyJsonValue.map((value) => JSON.stringify(value)),
    deepJsonValue(40).map((value) => JSON.stringify({ payload: value })),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.constantFrom(undefined, '', 'null', '{', '{"a":1,}', `{"type":"${'x'.repeat(MAX_BODY_BYTES)}"}`),
  );

const fuzzRequest = (token: string, valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<FuzzRequest> =>
  fc.record({ authorization: authorization(token), contentType, body: body(valid) });

/** Sends a fuzzed request; a body without a content type goes as bytes, which fetch labels with nothing. */
async function send(method: string, url: string, request: FuzzRequest) {
  const headers: Record<string, string> = {};
  if (request.authorization !== undefined) headers.authorization = request.authorization;
  if (request.contentType !== undefined) headers['content-type'] = request.contentType;
  const payload = request.body === undefined ? undefined : request.contentType === undefined ? new TextEncoder().encode(request.body) : request.body;
  const response = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // kept as text: the shape check below reports it
  }
  return { status: response.status, body: parsed };
}

/** Never 5xx, only the documented statuses, and every error in Nest's `{statusCode, message, error}` shape. */
function expectDocumented(what: string, answer: { status: number; body: any }, statuses: number[]): void {
  const context = `${what} answered ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
  expect({ context, status: answer.status }).toEqual({ context, status: statuses.includes(answer.status) ? answer.status : `one of ${statuses.join(', ')}` });
  if (answer.status >= 400) {
    const { statusCode, message, error } = answer.body ?? {};
    const shaped = statusCode === answer.status && typeof error === 'string' && (typeof message === 'string' || (Array.isArray(message) && message.every((line: unknown) => typeof line === 'string')));
    expect({ context, shaped }).toEqual({ context, shaped: true });
  }
}

const roomList = fc.array(fc.oneof(fc.constantFrom(TARGET_ROOM, 'public:elsewhere', `user:${TARGET_USER}`), trickyString), { maxLength: 4 });
const userList = fc.array(fc.oneof(fc.constantFrom(TARGET_USER, 'someone'), trickyString), { maxLength: 4 });

describe('fuzzed HTTP API', () => {
  let app: TestApp;
  let target: TestClient;
  /** What the target must have received: the accepted publishes' notification ids, per room (a repeated id is delivered once). */
  const expectedDeliveries = new Set<string>();

  beforeAll(async () => {
    app = await createTestApp({ ...FUZZ_APP_SETTINGS, DEMO_ENABLED: 'true', MAX_PUBLISH_BYTES: String(MAX_BODY_BYTES) });
    target = await connectClient(app.wsUrl, signToken({ sub: TARGET_USER }));
    await target.join(TARGET_ROOM);
  });
  afterAll(async () => {
    await target?.close();
    await app?.close();
  });

  it(
    'POST /v1/notifications: documented answers only, and a connected target gets exactly what accepted publishes sent',
    async () => {
      const valid = fc.record(
        { rooms: roomList, users: userList, type: fc.oneof(fc.string({ minLength: 1, maxLength: 100 }), trickyString), payload: fc.oneof(fc.dictionary(trickyString, anyJsonValue, { maxKeys: 3 }), anyJsonValue), id: trickyString },
        { requiredKeys: ['type', 'payload'] },
      );
      await fc.assert(
        fc.asyncProperty(fuzzRequest(publisherToken(), valid), fc.constantFrom(publisherToken(), signToken({ sub: 'reader-only', scope: 'presence:read' })), async (request, token) => {
          const sent = { ...request, authorization: request.authorization?.replace(publisherToken(), token) };
          const answer = await send('POST', `${app.url}/v1/notifications`, sent);
          expectDocumented(`POST /v1/notifications ${JSON.stringify(sent).slice(0, 300)}`, answer, [202, 400, 401, 403, 409, 413, 415]);
          if (answer.status !== 202) return;
          const parsed = JSON.parse(sent.body!) as { rooms?: string[]; users?: string[] };
          const targets = new Set([...(parsed.rooms ?? []), ...(parsed.users ?? []).map((user) => `user:${user}`)]);
          for (const room of [TARGET_ROOM, `user:${TARGET_USER}`]) if (targets.has(room)) expectedDeliveries.add(`${room} ${answer.body.id}`);
        }),
        fuzzParameters(150, { stateful: true }),
      );
      // One publish known to be accepted, last: the comparison below then always has something
      // to wait for, whether or not this run's random publishes happened to reach the target.
      const marker = await send('POST', `${app.url}/v1/notifications`, {
        authorization: `Bearer ${publisherToken()}`,
        contentType: 'application/json',
        body: JSON.stringify({ rooms: [TARGET_ROOM], type: 'marker', payload: {} }),
      });
      expect(marker.status).toBe(202);
      expectedDeliveries.add(`${TARGET_ROOM} ${marker.body.id}`);
      // Closed, it can receive nothing more: say so, rather than list every notification it missed.
      expect(target.closeInfo).toBeUndefined();
      const delivered = () => target.all('notification').map((frame) => `${frame.data.room} ${frame.data.id}`).sort();
      await eventually(() => expect(delivered()).toEqual([...expectedDeliveries].sort()));
      // Nothing straggles in after: a publish made now arrives after everything before it.
      const last = await publish(app.url, { rooms: [TARGET_ROOM], type: 'last', payload: {} });
      await eventually(() => expect(target.all('notification').at(-1)?.data.id).toBe(last.body.id));
      expect(delivered()).toEqual([...expectedDeliveries, `${TARGET_ROOM} ${last.body.id}`].sort());
    },
    fuzzTimeoutMs(150, 100),
  );

  it(
    'POST /v1/inbox/read: documented answers only, and a refused request changes no read state',
    async () => {
      const readerToken = signToken({ sub: READER });
      for (let i = 0; i < 3; i++) await publish(app.url, { users: [READER], type: 'seed', payload: { i } });
      const unread = async () => (await http('GET', `${app.url}/v1/inbox`, { token: readerToken })).body.unread as number;
      const items = (await http('GET', `${app.url}/v1/inbox`, { token: readerToken })).body.items as { id: string }[];
      const valid = fc.oneof(
        fc.record({ ids: fc.array(fc.oneof(fc.constantFrom(...items.map((item) => item.id)), trickyString), { maxLength: 3 }) }),
        fc.record({ all: fc.constant(true) }),
      );
      await fc.assert(
        fc.asyncProperty(fuzzRequest(readerToken, valid), async (request) => {
          const before = await unread();
          const answer = await send('POST', `${app.url}/v1/inbox/read`, request);
          expectDocumented(`POST /v1/inbox/read ${JSON.stringify(request).slice(0, 300)}`, answer, [200, 400, 401, 413, 415]);
          if (answer.status !== 200) expect(await unread()).toBe(before);
        }),
        fuzzParameters(100, { stateful: true }),
      );
    },
    fuzzTimeoutMs(100, 100),
  );

  it(
    'GET /v1/inbox: any query answers 200, 400 or 401',
    async () => {
      const readerToken = signToken({ sub: READER });
      const value = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom('', '1e1', '0x10', '50.5', 'abc-1', '0-0', 'x'.repeat(40) + '-1'), trickyString);
      const query = fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'before', 'limit[]', 'before[a]'), trickyString), value), { maxLength: 4 });
      await fc.assert(
        fc.asyncProperty(query, authorization(readerToken), async (pairs, auth) => {
          const url = `${app.url}/v1/inbox?${new URLSearchParams(pairs).toString()}`;
          const answer = await send('GET', url, { authorization: auth, contentType: undefined, body: undefined });
          expectDocumented(`GET ${url}`, answer, [200, 400, 401]);
        }),
        fuzzParameters(150),
      );
    },
    fuzzTimeoutMs(150, 100),
  );

  it(
    'POST /demo/token: documented answers only',
    async () => {
      const valid = fc.record(
        { sub: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/), trickyString), rooms: fc.array(fc.oneof(fc.constantFrom('chat:*', 'team:42', '*'), trickyString), { maxLength: 3 }), scope: trickyString, name: trickyString, ttl: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double()) },
        { requiredKeys: ['sub'] },
      );
      await fc.assert(
        fc.asyncProperty(fuzzRequest('unused', valid), async (request) => {
          const answer = await send('POST', `${app.url}/demo/token`, request);
          expectDocumented(`POST /demo/token ${JSON.stringify(request).slice(0, 300)}`, answer, [200, 400, 413, 415]);
        }),
        fuzzParameters(150),
      );
    },
    fuzzTimeoutMs(150, 100),
  );

  it(
    'GET /v1/rooms/:room/presence: any room and token answers 200, 400, 401, 403 or 404',
    async () => {
      const room = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,130}$/), trickyString, fc.constantFrom('.', '..', '%', 'a/b', TARGET_ROOM));
      const token = fc.constantFrom(publisherToken(), signToken({ sub: 'no-scope' }));
      await fc.assert(
        fc.asyncProperty(room, token.chain(authorization), async (name, auth) => {
          const url = `${app.url}/v1/rooms/${encodeURIComponent(name)}/presence`;
          const answer = await send('GET', url, { authorization: auth, contentType: undefined, body: undefined });
          expectDocumented(`GET ${url}`, answer, [200, 400, 401, 403, 404]);
        }),
        fuzzParameters(150),
      );
    },
    fuzzTimeoutMs(150, 100),
  );
});
