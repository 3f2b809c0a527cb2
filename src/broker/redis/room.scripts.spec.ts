import fc from 'fast-check';
import { historyEntry, storedPublication } from './room.scripts';

describe('history entries', () => {
  it('read back exactly what was written, whatever the body holds', () => {
    fc.assert(
      fc.property(
        fc.record({
          position: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
          publishedAtMs: fc.nat({ max: 8.64e15 }),
          event: fc.constantFrom('notification', 'message'),
          body: fc.json(),
        }),
        (publication) => {
          expect(storedPublication(historyEntry(publication))).toEqual(publication);
        },
      ),
    );
  });

  it('are not read from text of another shape', () => {
    for (const text of ['', '12', '12 34', '12 34 message', 'x 34 message {}', '12 y message {}']) expect(storedPublication(text)).toBeUndefined();
  });
});
