import 'reflect-metadata';
import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { ValidationError } from 'class-validator';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { JoinDto } from '../gateway/dto/join.dto';
import { InboxQueryDto } from '../inbox/dto/inbox-query.dto';
import { MarkReadDto } from '../inbox/dto/mark-read.dto';
import { PublishBatchDto } from '../notifications/dto/publish-batch.dto';
import { PublishNotificationDto } from '../notifications/dto/publish-notification.dto';
import { keptAsSentFields } from './kept-as-sent.decorator';
import { knownFieldsOf, LeanValidationPipe, PlainlyValidatable, prototypeNamedKeys, wordedMessages } from './lean-validation.pipe';

const OPTIONS = { transform: true, whitelist: true, forbidNonWhitelisted: true };

/** ValidationPipe without the lean pipe's short ways, its 400 worded as Herald words it (wordedMessages). */
class WordedValidationPipe extends ValidationPipe {
  protected override flattenValidationErrors(validationErrors: ValidationError[]): string[] {
    return wordedMessages(validationErrors, (errors) => super.flattenValidationErrors(errors));
  }
}
const full = new WordedValidationPipe(OPTIONS);
const lean = new LeanValidationPipe(OPTIONS);

/**
 * What a pipe made of a body: the value it returned (with its class), or the error body it threw.
 * `keptAsSent`: with the DTO's KeptAsSent fields put back as sent, where ValidationPipe strips them.
 */
async function outcome(pipe: ValidationPipe, body: unknown, metatype: ArgumentMetadata['metatype'], keptAsSent = false): Promise<unknown> {
  try {
    const value = await pipe.transform(clone(body), { type: 'body', metatype });
    if (keptAsSent) for (const field of keptAsSentFields(metatype)) if (field in (body as object)) (value as Record<string | symbol, unknown>)[field] = (body as Record<string | symbol, unknown>)[field];
    return { ok: true, class: (value as object)?.constructor?.name, keys: Object.keys(value as object), json: JSON.stringify(value) };
  } catch (error) {
    return { ok: false, class: (error as Error).constructor.name, response: (error as { getResponse?: () => unknown }).getResponse?.() };
  }
}

const json = JSON.parse.bind(JSON) as (text: string) => unknown;
/** A fresh copy of a JSON body, made in this realm (structuredClone's objects come from another one under jest). */
const clone = (body: unknown): unknown => (body === undefined ? undefined : json(JSON.stringify(body)));
const text = fc.oneof(
  fc.constantFrom('', 'a', 'u1', 'user:u1', 'orders:42', 'room with space', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(100), 'x'.repeat(101), 'x'.repeat(129), '\uFE0F', 'a\uFE0F', '😀', '😀'.repeat(60)),
  fc.string({ maxLength: 12 }),
);
const scalar = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null));
/** Payload-like JSON, with the keys ValidationPipe strips now and then. */
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'title'), fc.string({ maxLength: 5 })), tie('node'), { maxKeys: 3 })),
})).node;
const field = fc.oneof(scalar, tree, fc.array(text, { maxLength: 3 }));
const roomName = fc.constantFrom('orders:42', 'a', 'user:u1', 'team-7_x');
const userId = fc.constantFrom('u1', 'u-2', 'alice');
const plainText = fc.constantFrom('a', 'invoice.paid', 'x'.repeat(64), 'x'.repeat(100), 'x'.repeat(101), 'x'.repeat(128), 'x'.repeat(129), 'é', '');
const plainTree = fc.dictionary(fc.constantFrom('title', 'body', 'n', ''), fc.oneof(scalar, fc.array(scalar, { maxLength: 2 })), { maxKeys: 3 });
/** Any JSON object a publisher may send, keys named after Object.prototype's members at any depth included. */
const anyPayload = fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'title'), tree, { maxKeys: 4 });
/** Bodies as JSON text, parsed as the body parser parses them (so `__proto__` is an own key): valid ones, and anything. */
const publishBody = fc
  .oneof(
    fc.record(
      { rooms: fc.array(roomName, { maxLength: 3 }), users: fc.array(userId, { maxLength: 3 }), type: plainText, payload: fc.oneof(plainTree, anyPayload), id: plainText },
      { requiredKeys: ['type', 'payload'] },
    ),
    fc.record(
      {
        rooms: fc.oneof(fc.array(fc.oneof(roomName, text), { maxLength: 3 }), field),
        users: fc.oneof(fc.array(fc.oneof(userId, text), { maxLength: 3 }), field),
        type: fc.oneof(text, field),
        payload: fc.oneof(plainTree, fc.dictionary(fc.string({ maxLength: 5 }), tree, { maxKeys: 4 }), tree),
        id: fc.oneof(text, field),
        room: field,
        constructor: field,
      },
      { requiredKeys: [] },
    ),
  )
  .map((body) => json(JSON.stringify(body)));
/** Batch envelopes: lists of publish bodies (valid or not), and anything near an envelope. */
const batchBody = fc
  .oneof(
    fc.record({ notifications: fc.array(publishBody, { minLength: 1, maxLength: 3 }) }),
    fc.record({ notifications: fc.oneof(fc.array(publishBody, { maxLength: 2 }), field, fc.constant(Array.from({ length: 1001 }, () => ({})))), colour: field, constructor: field }, { requiredKeys: [] }),
    field,
  )
  .map((body) => json(JSON.stringify(body)));
const markReadBody = fc
  .record({ ids: fc.oneof(fc.array(fc.oneof(text, scalar, fc.constant('P\ud800')), { maxLength: 3 }), field), all: fc.oneof(fc.constant(true), field), colour: field }, { requiredKeys: [] })
  .map((body) => json(JSON.stringify(body)));
const joinBody = fc.oneof(
  fc.record({ room: fc.oneof(roomName, text), since: fc.constantFrom('e1-7', '', 'x'.repeat(64), 'x'.repeat(65)) }, { requiredKeys: ['room'] }),
  fc.record({ room: fc.oneof(text, field), since: fc.oneof(text, field), rooms: field, __proto__: field }, { requiredKeys: [] }).map((body) => json(JSON.stringify(body))),
  field,
);

/**
 * ValidationPipe's outcome, except for a body with fields named after Object.prototype's members,
 * which ValidationPipe lets through (or deletes) and the lean pipe refuses by name, and for the
 * fields kept as sent (a payload, a batch's notifications), in which ValidationPipe deletes keys.
 */
async function expected(body: unknown, metatype: ArgumentMetadata['metatype']): Promise<unknown> {
  const unseen = prototypeNamedKeys(body);
  const refused = (message: unknown[]) => ({ ok: false, class: 'BadRequestException', response: { statusCode: 400, error: 'Bad Request', message } });
  if (unseen.length > 0) return refused(unseen.map((key) => `property ${key} should not exist`));
  const validated = (await outcome(full, body, metatype, true)) as { ok: boolean; response?: { message?: unknown } };
  // The rule across fields (a publish's targets), told alone or after the fields' own failures.
  const problem = (metatype as Partial<PlainlyValidatable<unknown>>).bodyProblem?.(clone(body));
  if (problem === undefined) return validated;
  if (validated.ok) return refused([problem]);
  const message = validated.response?.message;
  return Array.isArray(message) ? refused([...message, problem]) : validated;
}

describe('LeanValidationPipe', () => {
  /** The lean pipe's outcome equals ValidationPipe's for every generated body; some of them took the short way. */
  async function expectSameAsValidationPipe(bodies: fc.Arbitrary<unknown>, dto: ArgumentMetadata['metatype'] & PlainlyValidatable<unknown>, runs: number): Promise<void> {
    let shortWays = 0;
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        if (dto.acceptIfPlainlyValid(clone(body)) !== undefined) shortWays++;
        expect(await outcome(lean, body, dto)).toEqual(await expected(body, dto));
      }),
      fuzzParameters(runs),
    );
    // The comparison covers the short way, not only bodies handed to ValidationPipe.
    expect(shortWays).toBeGreaterThan(0);
  }

  it('returns exactly what ValidationPipe returns for any publish body, and throws exactly its errors', () => expectSameAsValidationPipe(publishBody, PublishNotificationDto, 400));

  it('returns exactly what ValidationPipe returns for any batch envelope, and throws exactly its errors', () => expectSameAsValidationPipe(batchBody, PublishBatchDto, 300));

  it('returns exactly what ValidationPipe returns for any join frame, and throws exactly its errors', () => expectSameAsValidationPipe(joinBody, JoinDto, 400));

  it.each([
    ['publish body', publishBody, PublishNotificationDto],
    ['batch envelope', batchBody, PublishBatchDto],
    ['mark-read body', markReadBody, MarkReadDto],
  ] as const)('starts every message refusing a %s with the field it is about (or says the field should not exist)', async (_, bodies, dto) => {
    const fields = [...knownFieldsOf(dto)];
    const namesItsField = (message: string) =>
      /^(property .*|and \d+ more properties that) should not exist$/.test(message) || fields.some((name) => message.startsWith(`${name} `) || message.startsWith(`${name}.`));
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const result = (await outcome(lean, body, dto)) as { ok: boolean; response?: { message: string[] } };
        if (result.ok) return;
        refused++;
        for (const message of result.response!.message) expect([message, namesItsField(message)]).toEqual([message, true]);
      }),
      fuzzParameters(300),
    );
    expect(refused).toBeGreaterThan(0);
  });

  it('answers a field holding a wide value in the words ValidationPipe has for it', async () => {
    const wide = `[${Array(3000).fill('[[{"a":[]}]]').join(',')}]`;
    for (const body of [`{"users":${wide},"type":"t","payload":{}}`, `{"users":[${wide}],"type":"t","payload":{}}`, `{"users":["u1"],"type":{"a":${wide}},"payload":{}}`]) {
      const lean_ = await outcome(lean, json(body), PublishNotificationDto);
      expect(lean_).toMatchObject({ ok: false, response: { statusCode: 400 } });
      expect(lean_).toEqual(await expected(json(body), PublishNotificationDto));
    }
  });

  it('judges a list longer than its ArrayMaxSize on one element past that size, naming its size either way', async () => {
    const users = (badAt: number) => Array.from({ length: 20_000 }, (_, index) => (index === badAt ? 'not a user id' : `u${index}`));
    const sizeOnly = ['users must contain no more than 1000 elements'];
    const both = ['users must contain only user ids matching ^[A-Za-z0-9_.:-]{1,123}$', ...sizeOnly];
    for (const [badAt, message] of [[-1, sizeOnly], [0, both], [1000, both], [1001, sizeOnly], [19_999, sizeOnly]] as const) {
      const body = { users: users(badAt), type: 't', payload: {} };
      expect(await outcome(lean, body, PublishNotificationDto)).toMatchObject({ ok: false, response: { statusCode: 400, message: [...message] } });
    }
    // At most one past its size, a list is judged whole, as ValidationPipe judges it.
    const body = { users: [...users(-1).slice(0, 1000), 'not a user id'], type: 't', payload: {} };
    expect(await outcome(lean, body, PublishNotificationDto)).toEqual(await expected(body, PublishNotificationDto));
  });

  it('takes the short way for the bodies publishers and clients send', () => {
    const publish = PublishNotificationDto.acceptIfPlainlyValid(json('{"users":["u1"],"type":"invoice.paid","payload":{"title":"Paid","items":[{"n":1}]},"id":"k-1"}'));
    expect(publish).toBeInstanceOf(PublishNotificationDto);
    expect(publish).toMatchObject({ users: ['u1'], type: 'invoice.paid', payload: { title: 'Paid', items: [{ n: 1 }] }, id: 'k-1', rooms: undefined });
    expect(JoinDto.acceptIfPlainlyValid({ room: 'orders:42', since: 'e1-7' })).toEqual(Object.assign(new JoinDto(), { room: 'orders:42', since: 'e1-7' }));
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'prototype', 'valueOf'])('refuses a field named %s by name, which ValidationPipe would let through', async (key) => {
    const body = json(`{"users":["u1"],"type":"t","payload":{},"${key}":{"x":1}}`);
    expect(await outcome(full, body, PublishNotificationDto)).toMatchObject({ ok: true });
    expect(await outcome(lean, body, PublishNotificationDto)).toEqual({ ok: false, class: 'BadRequestException', response: { statusCode: 400, error: 'Bad Request', message: [`property ${key} should not exist`] } });
    expect(await outcome(lean, json(`{"room":"r","${key}":1}`), JoinDto)).toMatchObject({ ok: false, response: { message: [`property ${key} should not exist`] } });
  });

  it('hands on a payload exactly as sent, keys named after Object.prototype members included at any depth, where ValidationPipe deletes them', async () => {
    const payload = '{"title":"x","constructor":"Bob","toString":1,"valueOf":2,"hasOwnProperty":3,"prototype":{"__proto__":{"constructor":{"prototype":[{"constructor":"c"}]}}}}';
    const body = json(`{"users":["u1"],"type":"t","payload":${payload}}`);
    expect(await outcome(full, body, PublishNotificationDto)).toMatchObject({ ok: true, json: expect.not.stringMatching(/constructor|prototype/) });
    for (const sent of [body, json(`{"users":["u1"],"type":"😀","payload":${payload},"id":"k"}`)]) {
      // Both ways through: the short one, and ValidationPipe's (a type with a surrogate pair is left to it).
      const value = (await lean.transform(clone(sent), { type: 'body', metatype: PublishNotificationDto })) as PublishNotificationDto;
      expect(value).toBeInstanceOf(PublishNotificationDto);
      expect(JSON.stringify(value.payload)).toBe(payload);
    }
  });

  it('hands on the notifications of a batch exactly as sent, their payloads whole', async () => {
    const notification = '{"users":["u1"],"type":"t","payload":{"model":{"constructor":"Car","prototype":"v2","toString":"x"},"__proto__":{"a":1}}}';
    for (const sent of [`{"notifications":[${notification}]}`, `{"notifications":[${notification}, 5]}`]) {
      const value = (await lean.transform(json(sent), { type: 'body', metatype: PublishBatchDto })) as PublishBatchDto;
      expect(value).toBeInstanceOf(PublishBatchDto);
      expect(JSON.stringify(value.notifications[0])).toBe(notification);
    }
  });

  it.each([
    ['a number too large for JSON', '{"items":[{"n":1e999}]}', 'payload.items.0.n is a number too large for JSON'],
    ['a negative one', '{"n":-1e999}', 'payload.n is a number too large for JSON'],
    ['a lone surrogate in a string', '{"s":"\\ud800"}', 'payload.s must be well-formed Unicode (no lone surrogates)'],
    ['a lone surrogate in a key', '{"a":{"\\udfff":1}}', 'payload.a has a key that is not well-formed Unicode (no lone surrogates)'],
  ])('refuses a payload with %s, naming where', async (_, payload, message) => {
    // Parsed afresh each time: a copy through JSON.stringify would turn Infinity into null.
    const body = () => json(`{"users":["u1"],"type":"t","payload":${payload}}`);
    expect(PublishNotificationDto.acceptIfPlainlyValid(body())).toBeUndefined();
    await expect(lean.transform(body(), { type: 'body', metatype: PublishNotificationDto })).rejects.toMatchObject({ response: { statusCode: 400, error: 'Bad Request', message: [message] } });
  });

  it.each(['id', 'type'])('refuses a %s with a lone surrogate, which Redis would read as U+FFFD', async (field) => {
    for (const text of ['P\\ud800', 'P\\udfff', '\\udc00P\\ud800']) {
      const body = json(`{"users":["u1"],"type":"t","payload":{},"${field}":"${text}"}`);
      expect(await outcome(lean, body, PublishNotificationDto)).toMatchObject({ ok: false, response: { message: [`${field} must be well-formed Unicode (no lone surrogates)`] } });
    }
    expect(await outcome(lean, json(`{"users":["u1"],"type":"t","payload":{},"${field}":"P\\ufffd😀"}`), PublishNotificationDto)).toMatchObject({ ok: true });
  });

  it('tells a value of the wrong type as that alone, not the rules its type would have to meet', async () => {
    const refusal = (body: unknown, metatype: ArgumentMetadata['metatype']) => lean.transform(body, { type: 'body', metatype }).catch((error: { getResponse(): unknown }) => error.getResponse());
    expect(await refusal({ users: 'bob', type: 't', payload: {} }, PublishNotificationDto)).toMatchObject({ message: ['users must be an array'] });
    expect(await refusal({ users: ['bob'], type: 7, payload: {}, id: [] }, PublishNotificationDto)).toMatchObject({ message: ['type must be a string', 'id must be a string'] });
    expect(await refusal({ notifications: {} }, PublishBatchDto)).toMatchObject({ message: ['notifications must be an array'] });
    // A frame's data goes through the same pipe: its bad_request says the same.
    expect(await refusal({ room: 5, since: [] }, JoinDto)).toMatchObject({ message: ['room must be a string', 'since must be a string'] });
    // The right type, the wrong size or shape: every failing rule is named, as before.
    const users = Array.from({ length: 1001 }, () => 'not a user id');
    expect(await refusal({ users, type: 't', payload: {} }, PublishNotificationDto)).toMatchObject({
      message: ['users must contain only user ids matching ^[A-Za-z0-9_.:-]{1,123}$', 'users must contain no more than 1000 elements'],
    });
  });

  it('names a field once when its failing rules share one message', async () => {
    const response = await lean.transform({ limit: 'abc' }, { type: 'query', metatype: InboxQueryDto }).catch((error: { getResponse(): unknown }) => error.getResponse());
    expect(response).toEqual({ statusCode: 400, error: 'Bad Request', message: ['limit must be an integer from 1 to 100'] });
  });

  it('leaves every doubtful body to ValidationPipe', () => {
    for (const body of ['{"type":"t","payload":{"a":[1e999]},"users":["u1"]}', '{"type":"t","payload":{"a":"\\udc00"},"users":["u1"]}', '{"type":"😀","payload":{},"users":["u1"]}', '{"type":"t","payload":[],"users":["u1"]}', '{"type":"t","payload":{},"users":["u1"],"extra":1}']) {
      expect(PublishNotificationDto.acceptIfPlainlyValid(json(body))).toBeUndefined();
    }
    expect(JoinDto.acceptIfPlainlyValid({ room: 'r', since: null })).toBeUndefined();
  });
});
