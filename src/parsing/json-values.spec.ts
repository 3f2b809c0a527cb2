import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { depthOf, formattedJsonText, valueCountOf } from '../../test/support/json-arbitraries';
import { jsonShapeOf } from './json-values';

/** Whether jsonShapeOf finds more than `maxValues` values. */
const jsonValuesExceed = (bytes: Uint8Array, maxValues: number, maxDepth: number) => jsonShapeOf(bytes, maxValues, maxDepth) === 'too many values';

describe('jsonShapeOf', () => {
  it('agrees with a count of the parsed value\'s members and elements, for every JSON text and limit (property)', () => {
    fc.assert(
      fc.property(formattedJsonText, fc.integer({ min: 0, max: 60 }), ({ value, bytes }, maxValues) => {
        expect(jsonValuesExceed(bytes, maxValues, Math.max(1, depthOf(value)))).toBe(valueCountOf(value) > maxValues);
      }),
      fuzzParameters(500),
    );
  });

  it('counts members and elements at every depth, strings and empty containers aside', () => {
    const exceeds = (text: string, maxValues: number) => jsonValuesExceed(Buffer.from(text), maxValues, 32);
    // 2 members, 3 elements, 1 member inside: 6.
    const text = '{"a": [1, "x,y:z", {"b": []}], "c": {}}';
    expect([exceeds(text, 5), exceeds(text, 6)]).toEqual([true, false]);
    expect(exceeds('[[], [], {}]', 2)).toBe(true);
    expect(exceeds('"[1,2,3]"', 0)).toBe(false);
    expect(exceeds(`{"k":{${Array.from({ length: 5000 }, (_, i) => `"k${i}":1`).join(',')}}}`, 64)).toBe(true);
  });

  it('says which limit the text passes first: the depth, or the values', () => {
    expect(jsonShapeOf(Buffer.from('[[[1,2,3,4]]]'), 2, 2)).toBe('too deep');
    expect(jsonShapeOf(Buffer.from('[[[1,2,3,4]]]'), 2, 3)).toBe('too many values');
    expect(jsonShapeOf(Buffer.from('[[[1,2,3,4]]]'), 6, 3)).toBe('fits');
  });

  it('agrees with a recursive depth of the parsed value when the values fit, for every JSON text and limit (property)', () => {
    fc.assert(
      fc.property(formattedJsonText, fc.integer({ min: 0, max: 100 }), ({ value, bytes }, maxDepth) => {
        const shape = jsonShapeOf(bytes, Number.MAX_SAFE_INTEGER, maxDepth);
        expect(shape).toBe(depthOf(value) > maxDepth ? 'too deep' : 'fits');
      }),
      fuzzParameters(500),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 40 }), (bytes, maxValues, maxDepth) => {
        expect(['fits', 'too many values', 'too deep']).toContain(jsonShapeOf(bytes, maxValues, maxDepth));
      }),
      fuzzParameters(500),
    );
  });
});
