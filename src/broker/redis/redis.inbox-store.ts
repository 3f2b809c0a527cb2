import { InboxItem, InboxPage, personalRoom } from '@herald/client/protocol';
import { InboxItemState, InboxOptions, InboxStore, PageBudget, inboxItemOf } from '../inbox.store';
import { formatSeq } from '../seq';
import { InboxEventChannel, parseInboxEntry } from './inbox.scripts';
import { RedisConnection } from './redis.connection';
import { RedisKeys } from './redis-keys';

/**
 * Inboxes on Redis: a list per user, newest first, written by RedisBroker's publish script in
 * the same step as the room's history, and a set of the items marked read (each by its seq; by
 * id for marks made before, until those items are trimmed). Both keys share the
 * personal room's hash tag. A mark publishes its `inbox` event on the personal room's channel
 * from the same script.
 */
export class RedisInboxStore extends InboxStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: InboxOptions,
  ) {
    super();
  }

  async read(user: string, limit: number, before?: string): Promise<InboxPage> {
    const reply = await this.connection.run('inbox read', (redis) => redis.heraldInboxRead(this.keys.inboxKeys(user), this.options.inboxTtlMs, limit, before));
    const items: InboxItem[] = [];
    const budget = new PageBudget(this.options.pageMaxBytes);
    let more = reply.more;
    for (let index = 0; index < reply.entries.length; index++) {
      const raw = reply.entries[index];
      const entry = parseInboxEntry(raw);
      // The script read each entry's id already; one it could read has this shape.
      if (!entry) continue;
      // Ended before the entry that would pass INBOX_PAGE_MAX_BYTES (read first, so one that
      // cannot be read never ends a page): `next` leads to it.
      if (!budget.takes(raw.length)) {
        more = true;
        break;
      }
      items.push(inboxItemOf(formatSeq(entry.epoch, entry.position), entry.body, reply.read[index]));
    }
    return { items, unread: reply.unread, next: more && items.length > 0 ? items[items.length - 1].seq : null };
  }

  itemState(user: string, { id, seq }: Pick<InboxItem, 'id' | 'seq'>): Promise<InboxItemState> {
    return this.connection.run('inbox item state', (redis) => redis.heraldInboxItemState(this.keys.inboxKeys(user), this.options.inboxTtlMs, seq, id));
  }

  markRead(user: string, selection: string[] | 'all'): Promise<number> {
    return this.connection.run('inbox mark', (redis) => redis.heraldInboxMark(this.keys.inboxKeys(user), this.options.inboxTtlMs, selection, this.eventChannel(user)));
  }

  private eventChannel(user: string): InboxEventChannel {
    const room = personalRoom(user);
    const channel = this.keys.channel(room);
    return { channel, messagePrefix: this.keys.sharedMessagePrefix(room, channel), pubsub: this.keys.pubsub };
  }
}
