import { callGroups } from './call-groups';

describe('callGroups', () => {
  it('puts items of one group in calls of at most the limit, in the order given, and other groups apart', () => {
    const items = ['a1', 'b1', 'a2', 'a3', 'b2', 'a4', 'c1'];
    const groupOf = (item: string) => item.charCodeAt(0);
    expect(callGroups(items, groupOf, { items: 2 })).toEqual([['a1', 'a2'], ['b1', 'b2'], ['a3', 'a4'], ['c1']]);
    expect(callGroups(items, () => 0, { items: 3 })).toEqual([['a1', 'b1', 'a2'], ['a3', 'b2', 'a4'], ['c1']]);
    expect(callGroups([], groupOf, { items: 2 })).toEqual([]);
  });

  it('starts a new call when the next item would pass the byte limit; a larger lone item goes alone', () => {
    const limits = { items: 10, bytes: { most: 5, of: (item: string) => item.length } };
    expect(callGroups(['ab', 'cd', 'e', 'fghijkl', 'm'], () => 0, limits)).toEqual([['ab', 'cd', 'e'], ['fghijkl'], ['m']]);
  });
});
