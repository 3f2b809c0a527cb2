import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { NotificationBodies } from './notification-bodies';

describe('NotificationBodies', () => {
  it('writes each room\'s body exactly as JSON.stringify writes the object', () => {
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string(), { minLength: 1, maxLength: 4 }), fc.string(), fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (id, rooms, type, payload, timestamp) => {
        const bodies = new NotificationBodies(id, type, payload, timestamp);
        for (const room of rooms) expect(bodies.of(room)).toBe(JSON.stringify({ id, room, type, payload, timestamp }));
      }),
      fuzzParameters(300),
    );
  });
});
