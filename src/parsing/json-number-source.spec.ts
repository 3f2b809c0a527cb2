import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { anyJsonValue } from '../../test/support/json-arbitraries';
import { topLevelNumberSource } from './json-number-source';

const numberText = fc.oneof(
  fc.constantFrom('0', '-0', '1.50', '1e999', '-1E+2', '9007199254740993', '123456789012345678901234567890', '0.1000000000000000055511151231257827'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
);
const space = fc.stringMatching(/^[ \t\r\n]{0,2}$/);

describe('topLevelNumberSource', () => {
  it('finds the top-level key\'s number as written, among any other keys and values, however formatted (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 5 }).filter((k) => k !== 'id'), anyJsonValue, { maxKeys: 4 }), numberText, fc.nat(4), space, (others, id, at, gap) => {
        const entries = Object.entries(others).map(([k, v]) => `${gap}${JSON.stringify(k)}${gap}:${gap}${JSON.stringify(v, null, gap.length > 0 ? 1 : undefined)}${gap}`);
        entries.splice(Math.min(at, entries.length), 0, `${gap}"id"${gap}:${gap}${id}${gap}`);
        expect(topLevelNumberSource(Buffer.from(`{${entries.join(',')}}`), 'id')).toBe(id);
      }),
      fuzzParameters(500),
    );
  });

  it('reads the last of repeated keys, a key written with escapes, and past any depth without recursing', () => {
    expect(topLevelNumberSource(Buffer.from('{"id":1,"id":2e400}'), 'id')).toBe('2e400');
    expect(topLevelNumberSource(Buffer.from('{"\\u0069d":-0}'), 'id')).toBe('-0');
    expect(topLevelNumberSource(Buffer.from(`{"x":${'['.repeat(200_000)}${']'.repeat(200_000)},"id":1.5}`), 'id')).toBe('1.5');
  });

  it('finds nothing for a nested key or a value that is no number', () => {
    for (const text of ['{"data":{"id":1}}', '{"id":"1"}', '{"id":[1]}', '{"id":{"id":1}}', '[{"id":1}]', '{}']) {
      expect(topLevelNumberSource(Buffer.from(text), 'id')).toBeUndefined();
    }
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const source = topLevelNumberSource(bytes, 'id');
        expect(source === undefined || typeof source === 'string').toBe(true);
      }),
      fuzzParameters(500),
    );
  });
});
