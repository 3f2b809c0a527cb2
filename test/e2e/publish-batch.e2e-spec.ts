import { randomUUID } from 'node:crypto';
import { BROKER_KINDS, useBroker } from '../support/brokers';
import { eventually } from '../support/eventually';
import { http, HttpResult, publish } from '../support/http';
import { createTestApp, TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';
import { connectClient, TestClient } from '../support/ws-client';

const batch = (baseUrl: string, body: unknown, token: string | null = publisherToken()): Promise<HttpResult> =>
  http('POST', `${baseUrl}/v1/notifications/batch`, { token, body });

const types = (client: TestClient) => client.all('notification').map((frame) => frame.data.type);

describe.each(BROKER_KINDS)('POST /v1/notifications/batch (%s broker)', (kind) => {
  const broker = useBroker(kind);
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ ...broker.env(), MAX_PUBLISH_BYTES: '16384', MAX_BATCH_PUBLISH_BYTES: '65536' })));
  afterAll(() => app.close());

  it('answers 200 with one result per notification, in order, and delivers each to its own targets', async () => {
    const ann = await connectClient(app.wsUrl, signToken({ sub: 'ann', rooms: ['orders:*'] }));
    const ben = await connectClient(app.wsUrl, signToken({ sub: 'ben', rooms: ['orders:*'] }));
    await Promise.all([ann.join('orders:7'), ben.join('orders:7')]);

    const response = await batch(app.url, {
      notifications: [
        { users: ['ann'], type: 'for-ann', payload: { n: 1 } },
        { rooms: ['orders:7'], users: ['ben'], type: 'for-room', payload: { n: 2 }, id: `batch-room-${kind}` },
        { users: ['ben'], type: 'for-ben', payload: { n: 3 } },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      accepted: 3,
      failed: 0,
      results: [
        { id: expect.any(String), targets: 1 },
        { id: `batch-room-${kind}`, targets: 2 },
        { id: expect.any(String), targets: 1 },
      ],
    });
    await eventually(() => expect(types(ann).sort()).toEqual(['for-ann', 'for-room']));
    await eventually(() => expect(types(ben).sort()).toEqual(['for-ben', 'for-room', 'for-room']));
    const annFrame = ann.all('notification').find((frame) => frame.data.type === 'for-ann')!;
    expect(annFrame.data).toEqual({ id: response.body.results[0].id, seq: expect.any(String), room: 'user:ann', type: 'for-ann', payload: { n: 1 }, timestamp: expect.any(String) });
    await Promise.all([ann.close(), ben.close()]);
  });

  it('leaves each notification the depth of a single publish, and refuses a body one of them takes past it as a whole', async () => {
    const dot = await connectClient(app.wsUrl, signToken({ sub: 'dot' }));
    /** `levels` objects inside one another: `{"a":{"a":…{}}}`. */
    const nested = (levels: number): object => (levels === 1 ? {} : { a: nested(levels - 1) });
    // A single publish of 32 levels (MAX_JSON_DEPTH): the body, then a payload of 31.
    expect((await publish(app.url, { users: ['dot'], type: 'single', payload: nested(31) })).status).toBe(202);
    // In a batch the same notification sits under the envelope and its list: 34 levels.
    expect((await batch(app.url, { notifications: [{ users: ['dot'], type: 'deepest', payload: nested(31) }] })).status).toBe(200);
    const tooDeep = await batch(app.url, { notifications: [{ users: ['dot'], type: 'first', payload: {} }, { users: ['dot'], type: 'too-deep', payload: nested(32) }] });
    expect(tooDeep).toMatchObject({ status: 400, body: { statusCode: 400, message: 'The JSON body is nested deeper than 34 levels' } });
    expect((await publish(app.url, { users: ['dot'], type: 'after', payload: {} })).status).toBe(202);
    await eventually(() => expect(types(dot)).toEqual(['single', 'deepest', 'after']));
    await dot.close();
  });

  it('delivers the notifications of one batch to a room in request order', async () => {
    const cat = await connectClient(app.wsUrl, signToken({ sub: 'cat' }));
    const notifications = Array.from({ length: 50 }, (_, i) => ({ users: ['cat'], type: `n${i}`, payload: { i } }));
    expect((await batch(app.url, { notifications })).status).toBe(200);
    await eventually(() => expect(cat.all('notification')).toHaveLength(50));
    expect(types(cat)).toEqual(notifications.map((notification) => notification.type));
    const seqs = cat.all('notification').map((frame) => frame.data.seq as string);
    expect([...seqs].sort()).toEqual(seqs);
    await cat.close();
  });

  it('delivers in request order notifications with and without an id, though only an id is claimed first', async () => {
    const max = await connectClient(app.wsUrl, signToken({ sub: 'max' }));
    const notifications = Array.from({ length: 12 }, (_, i) => ({ users: ['max'], type: `m${i}`, payload: { i }, ...(i % 3 === 0 ? { id: `batch-mixed-${kind}-${i}` } : {}) }));
    expect((await batch(app.url, { notifications })).status).toBe(200);
    await eventually(() => expect(max.all('notification')).toHaveLength(12));
    expect(types(max)).toEqual(notifications.map((notification) => notification.type));
    await max.close();
  });

  it('answers 207 naming the index and field of each bad notification, and still publishes the good ones', async () => {
    const dan = await connectClient(app.wsUrl, signToken({ sub: 'dan' }));
    const response = await batch(app.url, {
      notifications: [
        { users: ['dan'], type: 'good-1', payload: {} },
        { users: ['dan'], type: 42, payload: {} },
        { users: ['dan'], type: 'good-2', payload: {} },
        { type: 'no-target', payload: {} },
        'not an object',
        { users: ['dan'], type: 'bad-payload', payload: [1] },
        { users: ['dan'], type: 'unknown-field', payload: {}, colour: 'red' },
        { rooms: ['bad room!'], type: 'bad-room', payload: {} },
        { users: ['dan'], type: 'too-big', payload: { blob: 'x'.repeat(20_000) } },
      ],
    });
    expect(response.status).toBe(207);
    expect(response.body).toMatchObject({ accepted: 2, failed: 7 });
    const [good1, badType, good2, noTarget, notObject, badPayload, unknownField, badRoom, tooBig] = response.body.results;
    expect(good1).toEqual({ id: expect.any(String), targets: 1 });
    expect(good2).toEqual({ id: expect.any(String), targets: 1 });
    expect(badType).toEqual({ error: { statusCode: 400, message: expect.stringContaining('notifications.1.type must be') } });
    expect(noTarget.error).toEqual({ statusCode: 400, message: 'notifications.3: rooms or users must name at least one target' });
    // The targets rule is told beside the fields' own failures, as a single publish's 400 lists it.
    const empty = await batch(app.url, { notifications: [{}] });
    expect(empty.body.results[0].error).toEqual({
      statusCode: 400,
      message: 'notifications.0.type must be a string; notifications.0.payload must be a JSON object; notifications.0: rooms or users must name at least one target',
    });
    expect(notObject.error).toEqual({ statusCode: 400, message: 'notifications.4 must be a JSON object' });
    expect(badPayload.error).toEqual({ statusCode: 400, message: 'notifications.5.payload must be a JSON object' });
    expect(unknownField.error).toEqual({ statusCode: 400, message: expect.stringContaining('notifications.6.colour') });
    expect(badRoom.error).toEqual({ statusCode: 400, message: expect.stringContaining('notifications.7.rooms') });
    expect(tooBig.error).toEqual({ statusCode: 413, message: expect.stringMatching(/^notifications\.8 is \d+ bytes, over MAX_PUBLISH_BYTES \(16384\)$/) });

    await batch(app.url, { notifications: [{ users: ['dan'], type: 'marker', payload: {} }] });
    await dan.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    expect(types(dan)).toEqual(['good-1', 'good-2', 'marker']);
    await dan.close();
  });

  it('refuses only the items with a field named after an Object.prototype member, and publishes the rest', async () => {
    const raw = '{"notifications":[{"users":["eli"],"type":"t0","payload":{},"__proto__":{"x":1}},{"users":["eli"],"type":"t1","payload":{},"constructor":1},{"users":["eli"],"type":"ok","payload":{}}]}';
    const response = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw });
    expect(response.status).toBe(207);
    expect(response.body).toMatchObject({ accepted: 1, failed: 2 });
    const [proto, ctor, ok] = response.body.results;
    // In the words of any other unknown field of an item.
    expect(proto.error).toEqual({ statusCode: 400, message: 'notifications.0.__proto__: property __proto__ should not exist' });
    expect(ctor.error).toEqual({ statusCode: 400, message: 'notifications.1.constructor: property constructor should not exist' });
    expect(ok).toEqual({ id: expect.any(String), targets: 1 });
  });

  it('applies the single-publish target limit to each notification', async () => {
    const users = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    const response = await batch(app.url, { notifications: [{ users, type: 't', payload: {} }] }, publisherToken());
    expect(response.status).toBe(207);
    expect(response.body.results[0].error).toMatchObject({ statusCode: 400, message: expect.stringContaining('notifications.0') });
  });

  it('delivers an id once per room, across batches and within one', async () => {
    const eve = await connectClient(app.wsUrl, signToken({ sub: 'eve' }));
    const once = { users: ['eve'], type: 'once', payload: {}, id: `batch-once-${kind}` };
    const first = await batch(app.url, { notifications: [once, once] });
    const again = await batch(app.url, { notifications: [once] });
    expect([first.status, again.status]).toEqual([200, 200]);
    expect([...first.body.results, ...again.body.results]).toEqual([once, once, once].map(({ id }) => ({ id, targets: 1 })));
    await batch(app.url, { notifications: [{ users: ['eve'], type: 'marker', payload: {} }] });
    await eve.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    expect(types(eve)).toEqual(['once', 'marker']);
    await eve.close();
  });

  it('answers 409 for an item whose id was used with another body, and delivers nothing for it', async () => {
    const hal = await connectClient(app.wsUrl, signToken({ sub: 'hal' }));
    const id = `batch-conflict-${kind}`;
    expect((await batch(app.url, { notifications: [{ users: ['hal'], type: 'first', payload: {}, id }] })).status).toBe(200);
    const response = await batch(app.url, { notifications: [{ users: ['hal'], type: 'second', payload: {}, id }, { users: ['hal'], type: 'marker', payload: {} }] });
    expect(response.status).toBe(207);
    expect(response.body.results[0].error).toEqual({ statusCode: 409, message: expect.stringContaining(`notifications.0: id "${id}" was already used with a different body`) });
    await hal.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    expect(types(hal)).toEqual(['first', 'marker']);
    await hal.close();
  });

  it('delivers each payload exactly as sent, keys named after Object.prototype members included, and answers 409 to an id repeated with such a key changed', async () => {
    const kim = await connectClient(app.wsUrl, signToken({ sub: 'kim' }));
    const payload = '{"model":{"constructor":"Car","prototype":"v2","toString":"x","kept":1},"__proto__":{"a":1},"valueOf":[{"constructor":{}}]}';
    const id = `batch-as-sent-${kind}`;
    const item = (sentPayload: string, itemId: string) => `{"users":["kim"],"type":"as-sent","payload":${sentPayload},"id":"${itemId}"}`;
    const send = (...items: string[]) => http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw: `{"notifications":[${items.join(',')}]}` });
    expect(await send(item(payload, id), item('{}', `${id}-empty`))).toMatchObject({ status: 200, body: { accepted: 2 } });
    await eventually(() => expect(kim.all('notification')).toHaveLength(2));
    expect(kim.all('notification').map((frame) => JSON.stringify(frame.data.payload))).toEqual([payload, '{}']);
    const again = await send(item(payload, id), item(payload.replace('"constructor":"Car",', ''), id), item('{"constructor":"DIFFERENT"}', `${id}-empty`));
    expect(again.status).toBe(207);
    expect(again.body.results).toEqual([{ id, targets: 1 }, { error: expect.objectContaining({ statusCode: 409 }) }, { error: expect.objectContaining({ statusCode: 409 }) }]);
    await kim.close();
  });

  it('answers 400 for an item with a lone surrogate in its id or type, or a number JSON cannot carry as sent, naming the place, and publishes the rest', async () => {
    const lee = await connectClient(app.wsUrl, signToken({ sub: 'lee' }));
    const raw = `{"notifications":[
      {"users":["lee"],"type":"t","payload":{},"id":"P\\ud800"},
      {"users":["lee"],"type":"t","payload":{},"id":"P\\udfff"},
      {"users":["lee"],"type":"t\\udc00","payload":{}},
      {"users":["lee"],"type":"t","payload":{"a":[1e999]}},
      {"users":["lee"],"type":"t","payload":{"id":1234567890123456789}},
      {"users":["lee"],"type":"t","payload":{"n":1${'0'.repeat(309)}}},
      {"users":["lee"],"type":"t","payload":{"n":0.${'0'.repeat(400)}1}},
      {"users":["lee"],"type":"good","payload":{},"id":"P\\ufffd-${kind}"}]}`;
    const response = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw });
    expect(response.status).toBe(207);
    expect(response.body.results).toEqual([
      { error: { statusCode: 400, message: 'notifications.0.id must be well-formed Unicode (no lone surrogates)' } },
      { error: { statusCode: 400, message: 'notifications.1.id must be well-formed Unicode (no lone surrogates)' } },
      { error: { statusCode: 400, message: 'notifications.2.type must be well-formed Unicode (no lone surrogates)' } },
      { error: { statusCode: 400, message: 'notifications.3.payload.a.0 is a number too large for JSON' } },
      { error: { statusCode: 400, message: 'notifications.4.payload.id is an integer beyond 2^53, which JSON readers round: send it as a string' } },
      { error: { statusCode: 400, message: 'notifications.5.payload.n is a number too large for JSON' } },
      { error: { statusCode: 400, message: 'notifications.6.payload.n is a number too small for JSON: it would arrive as 0' } },
      { id: `P\ufffd-${kind}`, targets: 1 },
    ]);
    expect((await lee.next('notification')).data.type).toBe('good');
    await lee.close();
  });

  it.each([
    ['no notifications field', {}, 'notifications'],
    ['an empty list', { notifications: [] }, 'notifications'],
    ['more than 1000 notifications', { notifications: Array.from({ length: 1001 }, () => ({ users: ['x'], type: 't', payload: {} })) }, 'notifications'],
    ['a list that is not an array', { notifications: { users: ['x'] } }, 'notifications'],
  ])('answers 400 for %s and publishes nothing', async (_, body, field) => {
    const response = await batch(app.url, body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(JSON.stringify(response.body.message)).toContain(field);
  });

  it('answers 413 over MAX_BATCH_PUBLISH_BYTES and delivers nothing', async () => {
    const fay = await connectClient(app.wsUrl, signToken({ sub: 'fay' }));
    const notifications = Array.from({ length: 60 }, (_, i) => ({ users: ['fay'], type: `big${i}`, payload: { blob: 'x'.repeat(1500) } }));
    const response = await batch(app.url, { notifications });
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({ statusCode: 413 });
    await batch(app.url, { notifications: [{ users: ['fay'], type: 'marker', payload: {} }] });
    await fay.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'marker');
    expect(types(fay)).toEqual(['marker']);
    await fay.close();
  });

  it('refuses a wide list in an unknown field, of the envelope or of an item, in the words it has for an empty one', async () => {
    // Within MAX_PUBLISH_BYTES as an item (16 KB here).
    const wide = `[${Array(1500).fill('[[[[]]]]').join(',')}]`;
    const item = (extra: string) => `{"users":["ivy"],"type":"t","payload":{}${extra}}`;
    const post = (raw: string) => http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw });
    const [envelopeWide, envelopeEmpty] = [await post(`{"notifications":[${item('')}],"x":${wide}}`), await post(`{"notifications":[${item('')}],"x":[]}`)];
    expect(envelopeWide).toMatchObject({ status: 400, body: { message: ['property x should not exist'] } });
    expect(envelopeWide.body).toEqual(envelopeEmpty.body);
    const [itemWide, itemEmpty] = [await post(`{"notifications":[${item(`,"x":${wide}`)}]}`), await post(`{"notifications":[${item(',"x":[]')}]}`)];
    expect(itemWide.body.results[0]).toEqual({ error: { statusCode: 400, message: 'notifications.0.x: property x should not exist' } });
    expect(itemWide.body.results).toEqual(itemEmpty.body.results);
  });

  it('measures each notification by its bytes as sent, answering as a single publish of that text would', async () => {
    // 3,000 x `1e20` is 15 KB as sent, within MAX_PUBLISH_BYTES; written again by JSON.stringify it would be 66 KB.
    const compact = `{"users":["hal"],"type":"compact","payload":{"n":[${Array(3000).fill('1e20').join(',')}]}}`;
    // Whitespace counts, as in a single publish's body: 17 KB, over the limit.
    const padded = `{"users":["hal"],"type":"padded",${' '.repeat(17_000)}"payload":{}}`;
    const single = async (text: string) => (await http('POST', `${app.url}/v1/notifications`, { token: publisherToken(), raw: text })).status;
    expect([await single(compact), await single(padded)]).toEqual([202, 413]);
    for (const contentType of ['application/json', 'application/json; charset=utf-8']) {
      const response = await http('POST', `${app.url}/v1/notifications/batch`, { token: publisherToken(), raw: `{"notifications":[ ${compact} ,\n${padded}]}`, headers: { 'content-type': contentType } });
      expect(response.status).toBe(207);
      expect(response.body.results[0]).toEqual({ id: expect.any(String), targets: 1 });
      expect(response.body.results[1]).toEqual({ error: { statusCode: 413, message: `notifications.1 is ${Buffer.byteLength(padded)} bytes, over MAX_PUBLISH_BYTES (16384)` } });
    }
  });

  it('accepts a batch body over MAX_PUBLISH_BYTES but within MAX_BATCH_PUBLISH_BYTES', async () => {
    const notifications = Array.from({ length: 20 }, (_, i) => ({ users: ['gus'], type: `mid${i}`, payload: { blob: 'x'.repeat(1000) } }));
    expect(JSON.stringify({ notifications }).length).toBeGreaterThan(16384);
    expect(await batch(app.url, { notifications })).toMatchObject({ status: 200, body: { accepted: 20, failed: 0 } });
  });

  it.each([
    ['no token', null, 401],
    ['a bad token', 'nope', 401],
    ['a token without the scope', signToken({ sub: 'svc', scope: 'presence:read' }), 403],
  ])('refuses %s', async (_, token, status) => {
    const response = await batch(app.url, { notifications: [{ users: ['x'], type: 't', payload: {} }] }, token);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ statusCode: status });
  });
});

describe('POST /v1/notifications/batch with INTERNAL_PORT', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp({ INTERNAL_PORT: '0' })));
  afterAll(() => app.close());

  it('answers only on the internal port', async () => {
    const body = { notifications: [{ users: ['ida'], type: 't', payload: {} }] };
    expect((await batch(app.internalUrl!, body)).status).toBe(200);
    expect(await batch(app.url, body)).toMatchObject({ status: 404, body: { statusCode: 404 } });
  });
});

describe('POST /v1/notifications/batch at the documented limits, on the embedded broker', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  it('answers other clients while it runs, and answers the batch as it would have in one piece', async () => {
    const first = await connectClient(app.wsUrl, signToken({ sub: 'limits-first' }));
    const last = await connectClient(app.wsUrl, signToken({ sub: 'limits-last' }));
    const bystander = await connectClient(app.wsUrl, signToken({ sub: 'bystander', rooms: ['lobby'] }));
    // 90 notifications to 1,000 users each, every other one with an id: about 950 KB, within
    // MAX_BATCH_PUBLISH_BYTES. The first user of the first and the last user of the last listen.
    const notifications = Array.from({ length: 90 }, (_, j) => ({
      users: Array.from({ length: 1000 }, (_, i) => (j === 0 && i === 0 ? 'limits-first' : j === 89 && i === 999 ? 'limits-last' : `us${j}x${i}`)),
      type: `n${j}`,
      payload: { j },
      ...(j % 2 === 0 ? { id: `limits-${j}` } : {}),
    }));
    expect(JSON.stringify({ notifications }).length).toBeGreaterThan(900_000);
    expect(JSON.stringify({ notifications }).length).toBeLessThan(1_048_576);
    let answered = false;
    const response = batch(app.url, { notifications }).finally(() => (answered = true));

    expect((await first.next('notification', 20_000)).data.type).toBe('n0');
    // The batch is under way: another client is served before it ends.
    expect(await bystander.request('ping')).toMatchObject({ event: 'pong' });
    expect((await bystander.join('lobby')).data).toMatchObject({ room: 'lobby' });
    expect(last.all('notification')).toEqual([]);
    expect(answered).toBe(false);

    const { status, body } = await response;
    expect(status).toBe(200);
    expect(body).toEqual({ accepted: 90, failed: 0, results: notifications.map(({ id }) => ({ id: id ?? expect.any(String), targets: 1000 })) });
    expect(new Set(body.results.map((result: { id: string }) => result.id)).size).toBe(90);
    const delivered = await last.next('notification');
    expect(delivered.data).toMatchObject({ id: body.results[89].id, type: 'n89', room: 'user:limits-last' });
    await Promise.all([first.close(), last.close(), bystander.close()]);
  });
});

describe('POST /v1/notifications/batch over 64 KiB (read across turns of the event loop)', () => {
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp()));
  afterAll(() => app.close());

  /** 80 notifications of about 1 KB each before `last` (raw JSON text): a body of about 90 KB. */
  const bigBatch = (last: string) => `{"notifications":[${Array.from({ length: 80 }, (_, i) => `{"users":["rex"],"type":"f${i}","payload":{"text":"${'x'.repeat(1000)}"}}`).join(',')},${last}]}`;
  const post = (body: string | Buffer, contentType = 'application/json') =>
    fetch(`${app.url}/v1/notifications/batch`, { method: 'POST', headers: { authorization: `Bearer ${publisherToken()}`, 'content-type': contentType }, body }).then(async (response) => ({ status: response.status, body: (await response.json()) as { results: unknown[] } }));

  it.each(['application/json', 'application/json; charset=utf-8'])('refuses one nested too deep or not UTF-8 as a small one, sent as %s', async (type) => {
    const deep = bigBatch(`{"users":["rex"],"type":"deep","payload":${'['.repeat(40)}${']'.repeat(40)}}`);
    expect(Buffer.byteLength(deep)).toBeGreaterThan(64 * 1024);
    // A batch's envelope takes two levels: each notification keeps a single publish's 32.
    expect(await post(deep, type)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The JSON body is nested deeper than 34 levels' } });
    const text = Buffer.from(bigBatch('{"users":["rex"],"type":"caf","payload":{}}'));
    const broken = Buffer.concat([text.subarray(0, text.lastIndexOf('caf') + 3), Buffer.from([0xc3]), text.subarray(text.lastIndexOf('caf') + 3)]);
    expect(await post(broken, type)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'The body is not valid UTF-8' } });
    expect(await post(bigBatch('{"users":["rex"],"type":"cut"'), type)).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request' } });
  });

  it('names an inexact number and measures each notification as sent, as in a small one, and publishes the rest', async () => {
    const rex = await connectClient(app.wsUrl, signToken({ sub: 'rex' }));
    const padded = `{"users":["rex"],"type":"padded",${' '.repeat(70_000)}"payload":{}}`;
    const { status, body } = await post(bigBatch(`{"users":["rex"],"type":"t","payload":{"id":1234567890123456789}},${padded},{"users":["rex"],"type":"last","payload":{}}`));
    expect(status).toBe(207);
    expect(body.results).toHaveLength(83);
    expect(body.results.slice(80)).toEqual([
      { error: { statusCode: 400, message: 'notifications.80.payload.id is an integer beyond 2^53, which JSON readers round: send it as a string' } },
      { error: { statusCode: 413, message: `notifications.81 is ${Buffer.byteLength(padded)} bytes, over MAX_PUBLISH_BYTES (65536)` } },
      { id: expect.any(String), targets: 1 },
    ]);
    await rex.waitFor((frame) => frame.event === 'notification' && frame.data.type === 'last');
    expect(types(rex)).toEqual([...Array.from({ length: 80 }, (_, i) => `f${i}`), 'last']);
    await rex.close();
  });
});

describe('POST /v1/notifications/batch while Redis cannot store', () => {
  const broker = useBroker('redis');
  let app: TestApp;
  beforeAll(async () => (app = await createTestApp(broker.env())));
  afterAll(() => app.close());

  const notStored = async () => Number((await http('GET', `${app.url}/metrics`)).body.match(/^herald_publishes_unavailable_total\{outcome="not_stored"\} (\d+)$/m)?.[1] ?? 0);
  const ready = async () => (await http('GET', `${app.url}/readyz`)).status;
  // Two notifications a single publish would have tried to store (an id's claim is a write, which
  // a Redis out of memory refuses), and two it would have refused before any broker call.
  const mixed = () => [
    { users: ['nobody'], type: 'first', payload: {}, id: `refused-${randomUUID()}` },
    { users: ['nobody'], type: 42, payload: {} },
    { users: ['nobody'], type: 'second', payload: {}, id: `refused-${randomUUID()}` },
    'not an object',
  ];

  it('answers each item Redis refused 503 in the words a single publish has, nothing of Redis in them, and counts only those as not stored', async () => {
    const before = await notStored();
    await broker.redis!.configSet('maxmemory', '1');
    let response: HttpResult;
    let single: HttpResult;
    try {
      response = await batch(app.url, { notifications: mixed() });
      single = await publish(app.url, { users: ['nobody'], type: 'single', payload: {}, id: `refused-${randomUUID()}` });
    } finally {
      await broker.redis!.configSet('maxmemory', '0');
    }
    expect(single.status).toBe(503);
    expect(single.headers.get('retry-after')).toBe('2');
    expect(response.status).toBe(207);
    // Items answered 503: when to retry them, as the single publish's 503 says.
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.body).toMatchObject({ accepted: 0, failed: 4 });
    const [first, badType, second, notObject] = response.body.results.map((result: { error: unknown }) => result.error);
    expect(first).toEqual({ statusCode: 503, message: `notifications.0: ${single.body.message}` });
    expect(second).toEqual({ statusCode: 503, message: `notifications.2: ${single.body.message}` });
    expect(first.message).toMatch(/not stored.*Retry later/);
    expect(first.message).not.toMatch(/Redis|OOM/);
    expect(badType.statusCode).toBe(400);
    expect(notObject.statusCode).toBe(400);
    // The batch's two and the single publish.
    expect(await notStored()).toBe(before + 3);
  });

  it('answers the whole batch 503 while Redis is unreachable, counting as not stored only the notifications that were valid, and a batch of only invalid ones its 400s', async () => {
    const before = await notStored();
    await broker.redis!.kill();
    try {
      await eventually(async () => expect(await ready()).toBe(503), 5000);
      const response = await batch(app.url, { notifications: mixed() });
      expect(response).toMatchObject({ status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: expect.stringMatching(/was not stored/) } });
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await notStored()).toBe(before + 2);
      // Nothing in it a single publish would store: each item its 400, as with Redis up; no retry would cure them.
      const invalid = await batch(app.url, { notifications: mixed().filter((_, index) => index % 2 === 1) });
      expect(invalid.status).toBe(207);
      // No retry would cure a 400: nothing says to retry.
      expect(invalid.headers.get('retry-after')).toBeNull();
      expect(invalid.body).toMatchObject({ accepted: 0, failed: 2 });
      expect(invalid.body.results.map((result: { error: { statusCode: number } }) => result.error.statusCode)).toEqual([400, 400]);
      expect(await notStored()).toBe(before + 2);
    } finally {
      await broker.redis!.restart();
    }
    await eventually(async () => expect(await ready()).toBe(200), 15_000);
  });
});
