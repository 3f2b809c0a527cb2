import { UnreadNotification } from '@herald/client/protocol';
import { HooksRedisStore } from './hooks-redis.store';
import { UnreadSchedule } from './unread.schedule';
import { UnreadCheck } from './webhook-event';

/** Checks in a Redis sorted set scored by when they are due, shared by every pod. */
export class RedisUnreadSchedule extends UnreadSchedule {
  constructor(
    private readonly store: HooksRedisStore,
    private readonly max: number,
  ) {
    super();
  }

  async add(checks: UnreadCheck[], delayMs: number): Promise<number> {
    if (checks.length === 0) return 0;
    return this.store.client.hooksUnreadAdd(this.store.unreadKey, delayMs, this.max, checks.map(member));
  }

  async claimDue(max: number, leaseMs: number): Promise<UnreadCheck[]> {
    const members = await this.store.client.hooksUnreadClaim(this.store.unreadKey, max, leaseMs);
    const checks: UnreadCheck[] = [];
    const unreadable: string[] = [];
    for (const raw of members) {
      const check = parseMember(raw);
      if (check) checks.push(check);
      else unreadable.push(raw);
    }
    // Not written by this version of Herald: left in place it would come due forever.
    if (unreadable.length > 0) await this.store.client.zRem(this.store.unreadKey, unreadable);
    return checks;
  }

  async done(checks: UnreadCheck[]): Promise<void> {
    if (checks.length > 0) await this.store.client.zRem(this.store.unreadKey, checks.map(member));
  }
}

/** `[user, id, seq, type]`: the same check always makes the same member, so adding it again only moves it. */
function member({ user, notification }: UnreadCheck): string {
  return JSON.stringify([user, notification.id, notification.seq, notification.type]);
}

function parseMember(raw: string): UnreadCheck | undefined {
  try {
    const [user, id, seq, type] = JSON.parse(raw) as [string, string, string, string];
    if ([user, id, seq, type].every((part) => typeof part === 'string')) return { user, notification: { id, seq, type } satisfies UnreadNotification };
  } catch {
    // falls through: not written by this version of Herald
  }
  return undefined;
}
