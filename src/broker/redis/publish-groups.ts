import { ErrorReply } from 'redis';
import type { GroupedPublish, PublishReply } from './room.scripts';

/**
 * The most notifications one publish script call carries, and the most body bytes (a lone
 * notification larger than that still goes, alone): the call holds Redis for its whole run,
 * about 25 us per notification, so no group stalls other pods' calls for more than a few ms.
 */
export const PUBLISH_GROUP_LIMITS = { items: 100, bytes: 1 << 20 };

interface Waiting {
  item: GroupedPublish;
  resolve(reply: PublishReply): void;
  reject(error: unknown): void;
}

/**
 * Sends the publishes handed over in one event-loop turn (a batch request's wave, concurrent
 * single publishes) as a few publish script calls instead of one each: Redis then reads its
 * time and replication history once per call, and the pod sends, tracks and answers one command.
 * Each notification is still published exactly as alone, in the order handed over (the script
 * runs a group's in order, and groups that may share a room leave in order on one connection),
 * and settles alone: one that fails in Redis fails by itself (PublishReply), a call that fails
 * fails its group's. Nothing waits for more publishes: the group leaves when the turn's
 * synchronous work and promise callbacks are done (process.nextTick), before node-redis writes
 * the turn's commands, so a lone publish costs no extra round of the event loop.
 */
export class PublishGroups {
  private waiting: Waiting[] = [];

  constructor(
    /** One script call for the group, which must share `groupOf`; resolves with a reply per notification, in order. */
    private readonly send: (group: readonly GroupedPublish[]) => Promise<PublishReply[]>,
    /** Publishes with the same value may share a call: one value everywhere but on a Cluster, where it is the room's slot. */
    private readonly groupOf: (item: GroupedPublish) => number,
    private readonly limits = PUBLISH_GROUP_LIMITS,
  ) {}

  publish(item: GroupedPublish): Promise<PublishReply> {
    return new Promise<PublishReply>((resolve, reject) => {
      if (this.waiting.push({ item, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    // Map keeps insertion order; only groups of one value need to leave in order, and do.
    const open = new Map<number, { members: Waiting[]; bytes: number }>();
    for (const entry of waiting) {
      const key = this.groupOf(entry.item);
      const bytes = entry.item.body.length;
      let group = open.get(key);
      if (group && (group.members.length >= this.limits.items || group.bytes + bytes > this.limits.bytes)) {
        this.sendGroup(group.members);
        group = undefined;
      }
      if (!group) open.set(key, (group = { members: [], bytes: 0 }));
      group.members.push(entry);
      group.bytes += bytes;
    }
    for (const { members } of open.values()) this.sendGroup(members);
  }

  private sendGroup(members: readonly Waiting[]): void {
    let sent: Promise<PublishReply[]>;
    try {
      sent = this.send(members.map(({ item }) => item));
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (replies) => members.forEach((member, index) => member.resolve(replies[index] ?? new ErrorReply('ERR the publish script sent no reply for this notification'))),
      (error: unknown) => {
        for (const member of members) member.reject(error);
      },
    );
  }
}
