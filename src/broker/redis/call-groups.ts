/** The most items one script call carries, and when given the most bytes, as `of` counts an item's (a lone item larger than that still goes, alone). */
export interface CallLimits<Item> {
  items: number;
  bytes?: { most: number; of(item: Item): number };
}

/**
 * Splits gathered calls into script calls: items whose keys may share a call (`groupOf`: one
 * value on one Redis, their slot on a Cluster) together, in the order given, within `limits`, so
 * each call stays bounded in size like any other. Calls of one group come in the order opened.
 */
export function callGroups<Item>(items: readonly Item[], groupOf: (item: Item) => number, limits: CallLimits<Item>): Item[][] {
  const open = new Map<number, { members: Item[]; bytes: number }>();
  const calls: Item[][] = [];
  const byteLimit = limits.bytes;
  for (const item of items) {
    const group = groupOf(item);
    const bytes = byteLimit ? byteLimit.of(item) : 0;
    let call = open.get(group);
    if (!call || call.members.length >= limits.items || (byteLimit && call.bytes + bytes > byteLimit.most)) {
      open.set(group, (call = { members: [], bytes: 0 }));
      calls.push(call.members);
    }
    call.members.push(item);
    call.bytes += bytes;
  }
  return calls;
}
