/**
 * Splits what a batch window gathered into script calls: items whose keys may share a call
 * (`groupOf`: one value on one Redis, their slot on a Cluster) together, in the order given, at
 * most `most` a call, so each call stays bounded in size like any other.
 */
export function callGroups<Item>(items: readonly Item[], groupOf: (item: Item) => number, most: number): Item[][] {
  const open = new Map<number, Item[]>();
  const calls: Item[][] = [];
  for (const item of items) {
    const group = groupOf(item);
    let call = open.get(group);
    if (!call || call.length === most) {
      open.set(group, (call = []));
      calls.push(call);
    }
    call.push(item);
  }
  return calls;
}
