import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { anyJsonValue } from '../../test/support/json-arbitraries';
import { listItemByteLengths } from './json-list-items';

const whitespace = fc.stringMatching(/^[ \t\r\n]{0,3}$/);
/** An item as a client may format it, with the bytes it takes. */
const formattedItem = fc.tuple(anyJsonValue, fc.constantFrom(undefined, 0, 2, '\t')).map(([value, space]) => JSON.stringify(value, null, space));

/** `{..."notifications": [items]...}` with other keys (lists among them) before and after, and whitespace anywhere between tokens. */
const batchText = fc
  .record({
    items: fc.array(fc.tuple(whitespace, formattedItem, whitespace), { maxLength: 8 }),
    before: fc.dictionary(fc.string({ maxLength: 6 }), anyJsonValue, { maxKeys: 3 }),
    after: fc.dictionary(fc.string({ maxLength: 6 }), anyJsonValue, { maxKeys: 3 }),
    gap: whitespace,
  })
  .filter(({ before, after }) => !('notifications' in before) && !('notifications' in after))
  .map(({ items, before, after, gap }) => {
    const list = `[${items.map(([lead, item, trail]) => `${lead}${item}${trail}`).join(',')}${gap}]`;
    const entries = [...Object.entries(before).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), `${gap}"notifications"${gap}:${gap}${list}`, ...Object.entries(after).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)];
    return { text: `${gap}{${entries.join(',')}}${gap}`, expected: items.map(([, item]) => Buffer.byteLength(item)) };
  });

describe('listItemByteLengths', () => {
  it('measures each item of the list as sent, for any formatting and any keys around it (property)', () => {
    fc.assert(
      fc.property(batchText, ({ text, expected }) => {
        expect(listItemByteLengths(Buffer.from(text), 'notifications')).toEqual(expected);
      }),
      fuzzParameters(500),
    );
  });

  it('counts a number as the bytes sent, not as JSON.stringify writes it again', () => {
    expect(listItemByteLengths(Buffer.from('{"notifications":[{"n":1e20} , {"s":"\\u00e9"}]}'), 'notifications')).toEqual([10, 14]);
  });

  it('reads the last of repeated keys, as JSON.parse does, and a key written with escapes', () => {
    expect(listItemByteLengths(Buffer.from('{"notifications":[1],"notifications":[22,333]}'), 'notifications')).toEqual([2, 3]);
    expect(listItemByteLengths(Buffer.from('{"notific\\u0061tions":[{}]}'), 'notifications')).toEqual([2]);
  });

  it('finds no list where the key is not the top-level object\'s, or its value is not a list', () => {
    for (const text of ['{"x":{"notifications":[1]}}', '["notifications",[1]]', '{"notifications":"[1]"}', '{"a":"notifications","b":[1]}', '{}', '']) {
      expect(listItemByteLengths(Buffer.from(text), 'notifications')).toBeUndefined();
    }
    expect(listItemByteLengths(Buffer.from('{"notifications":[]}'), 'notifications')).toEqual([]);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const lengths = listItemByteLengths(bytes, 'notifications');
        expect(lengths === undefined || Array.isArray(lengths)).toBe(true);
      }),
      fuzzParameters(500),
    );
  });
});
