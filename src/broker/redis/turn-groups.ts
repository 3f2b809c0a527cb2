import { CallLimits, callGroups } from './call-groups';

interface Waiting<Item, Reply> {
  item: Item;
  resolve(reply: Reply): void;
  reject(error: unknown): void;
}

/**
 * Sends the calls of one kind made in one event-loop turn (the publishes of a batch request's
 * wave, concurrent single publishes, their id claims) as a few script calls instead of one each:
 * Redis then runs the script's shared part once per call, and the pod sends, tracks and answers
 * one command. Each item is still handled as if alone, in the order handed over (the script
 * runs a group's items in order, and groups that may share a key leave in order on one
 * connection), and settles alone with its own reply; a call that fails fails its group's items.
 * Nothing waits for more items: the group leaves once the turn's synchronous work and promise
 * callbacks are done (process.nextTick), before node-redis writes the turn's commands, so a lone
 * item costs no extra round of the event loop.
 */
export class TurnGroups<Item, Reply> {
  private waiting: Waiting<Item, Reply>[] = [];

  /** The limits, counting each waiting item's bytes. */
  private readonly limits: CallLimits<Waiting<Item, Reply>>;

  constructor(
    /** One script call for the group, whose items share `groupOf`; resolves with a reply per item, in order. */
    private readonly send: (group: readonly Item[]) => Promise<readonly Reply[]>,
    /** Items with the same value may share a call: one value everywhere but on a Cluster, where it is their keys' slot. */
    private readonly groupOf: (item: Item) => number,
    { items, bytes }: CallLimits<Item>,
  ) {
    this.limits = { items, bytes: bytes && { most: bytes.most, of: (waiting) => bytes.of(waiting.item) } };
  }

  add(item: Item): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.waiting.push({ item, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const members of callGroups(waiting, (entry) => this.groupOf(entry.item), this.limits)) this.sendGroup(members);
  }

  private sendGroup(members: readonly Waiting<Item, Reply>[]): void {
    let sent: Promise<readonly Reply[]>;
    try {
      sent = this.send(members.map(({ item }) => item));
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (replies) =>
        members.forEach((member, index) => {
          if (index < replies.length) member.resolve(replies[index]);
          else member.reject(new Error(`The script answered ${replies.length} of ${members.length} items`));
        }),
      (error: unknown) => {
        for (const member of members) member.reject(error);
      },
    );
  }
}
