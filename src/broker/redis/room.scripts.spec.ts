import fc from 'fast-check';
import { historyEntry, storedPublication } from './room.scripts';

describe('history entries', () => {
  it('read back exactly what was written, whatever the body holds', () => {
    fc.assert(
      fc.property(
        fc.record({
          epoch: fc.stringMatching(/^[0-9a-z]{1,32}$/),
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
    for (const text of ['', 'e1', 'e1 12', 'e1 12 34', 'e1 12 34 message', 'e1 x 34 message {}', 'e1 12 y message {}', ' 12 34 message {}']) expect(storedPublication(text)).toBeUndefined();
  });
});
