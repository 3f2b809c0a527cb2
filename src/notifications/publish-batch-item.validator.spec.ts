import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { PublishBatchItemValidator } from './publish-batch-item.validator';

const validator = new PublishBatchItemValidator(16_384);

/** What class-validator alone says of an item: the rule the short way must agree with. */
function classValidatorAccepts(item: object): boolean {
  return validateSync(plainToInstance(PublishNotificationDto, item), { whitelist: true, forbidNonWhitelisted: true }).length === 0;
}

const text = fc.oneof(fc.constantFrom('', 'a', 'u1', 'orders:42', 'bad room!', 'x'.repeat(100), 'x'.repeat(101), 'x'.repeat(129), '😀'), fc.string({ maxLength: 8 }));
const anything = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 4 }), text, { maxKeys: 2 }));
/** Batch items as JSON text, parsed: plainly valid ones, and anything near them. */
const item = fc
  .oneof(
    fc.record(
      { rooms: fc.array(fc.constantFrom('orders:42', 'a'), { maxLength: 2 }), users: fc.array(fc.constantFrom('u1', 'alice'), { maxLength: 2 }), type: fc.constantFrom('t', 'invoice.paid'), payload: fc.dictionary(fc.constantFrom('title', 'n'), text, { maxKeys: 2 }), id: fc.constantFrom('k-1', 'x'.repeat(128)) },
      { requiredKeys: ['type', 'payload'] },
    ),
    fc.record({ rooms: fc.oneof(fc.array(text, { maxLength: 2 }), anything), users: fc.oneof(fc.array(text, { maxLength: 2 }), anything), type: anything, payload: anything, id: anything, colour: anything }, { requiredKeys: [] }),
  )
  .map((value) => JSON.parse(JSON.stringify(value)) as object);

describe('PublishBatchItemValidator', () => {
  it('accepts exactly the items class-validator accepts (when they name 1 to 1000 targets), taking the short way or not', () => {
    fc.assert(
      fc.property(item, (value) => {
        const checked = validator.check(value, 0);
        if (!classValidatorAccepts(value)) return expect(checked.ok).toBe(false);
        const { rooms = [], users = [] } = value as { rooms?: string[]; users?: string[] };
        expect(checked.ok).toBe(new Set([...rooms, ...users.map((user) => `user:${user}`)]).size > 0);
        if (checked.ok) expect(checked.notification).toBeInstanceOf(PublishNotificationDto);
      }),
      fuzzParameters(500),
    );
  });

  it('names the failing field of a refused item by its path in the batch', () => {
    // A value of the wrong type is told that alone, as a single publish tells it.
    expect(validator.check({ users: ['u1'], type: 42, payload: {} }, 3)).toEqual({ ok: false, error: { statusCode: 400, message: 'notifications.3.type must be a string' } });
    expect(validator.check({ users: 'u1', type: 't', payload: {} }, 4)).toEqual({ ok: false, error: { statusCode: 400, message: 'notifications.4.users must be an array' } });
    expect(validator.check({ users: ['u1'], type: 't', payload: {}, colour: 'red' }, 0)).toMatchObject({ ok: false, error: { message: expect.stringContaining('notifications.0.colour') } });
  });

  it.each(['colour', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'prototype'])('names an unknown field %s in the one shape all unknown fields have', (key) => {
    // Parsed from text, as a request body is: `__proto__` is then an own field.
    const item = JSON.parse(`{"users":["u1"],"type":"t","payload":{},"${key}":1}`) as object;
    expect(validator.check(item, 2)).toEqual({ ok: false, error: { statusCode: 400, message: `notifications.2.${key}: property ${key} should not exist` } });
  });
});
