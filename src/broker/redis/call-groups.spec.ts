import { callGroups } from './call-groups';

describe('callGroups', () => {
  it('puts items of one group in calls of at most the limit, in the order given, and other groups apart', () => {
    const items = ['a1', 'b1', 'a2', 'a3', 'b2', 'a4', 'c1'];
    const groupOf = (item: string) => item.charCodeAt(0);
    expect(callGroups(items, groupOf, 2)).toEqual([['a1', 'a2'], ['b1', 'b2'], ['a3', 'a4'], ['c1']]);
    expect(callGroups(items, () => 0, 3)).toEqual([['a1', 'b1', 'a2'], ['a3', 'b2', 'a4'], ['c1']]);
    expect(callGroups([], groupOf, 2)).toEqual([]);
  });
});
