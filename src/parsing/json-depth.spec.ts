import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { depthOf, formattedJsonText } from '../../test/support/json-arbitraries';
import { jsonNestingExceeds } from './json-depth';

describe('jsonNestingExceeds (properties)', () => {
  it('agrees with a recursive depth of the parsed value, for every JSON text and limit', () => {
    fc.assert(
      fc.property(formattedJsonText, fc.integer({ min: 0, max: 100 }), ({ value, bytes }, maxDepth) => {
        expect(jsonNestingExceeds(bytes, maxDepth)).toBe(depthOf(value) > maxDepth);
      }),
      fuzzParameters(500),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 300 }), (bytes, maxDepth) => {
        expect(typeof jsonNestingExceeds(bytes, maxDepth)).toBe('boolean');
      }),
      fuzzParameters(500),
    );
  });
});
