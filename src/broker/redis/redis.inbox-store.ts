import { InboxItem, InboxPage, personalRoom } from '@herald/client/protocol';
import { InboxOptions, InboxStore, inboxItemOf, inboxPage } from '../inbox.store';
import { formatSeq } from '../seq';
import { InboxEventChannel, InboxKeys, parseInboxEntry } from './inbox.scripts';
import { RedisConnection } from './redis.connection';
import { RedisKeys } from './redis-keys';

/**
 * Inboxes on Redis: a list per user, newest first, written by RedisBroker's publish script in
 * the same step as the room's history, and a set of the ids marked read. Both keys share the
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
    const reply = await this.connection.run('inbox read', (redis) => redis.heraldInboxRead(this.inboxKeys(user)));
    const oldestMs = reply.nowMs - this.options.inboxTtlMs;
    const read = new Set(reply.read);
    const items: InboxItem[] = [];
    for (const raw of reply.entries) {
      const entry = parseInboxEntry(raw);
      if (!entry || entry.storedAtMs <= oldestMs) continue;
      const item = inboxItemOf(formatSeq(entry.epoch, entry.position), entry.body, false);
      item.read = read.has(item.id);
      items.push(item);
    }
    return inboxPage(items, limit, before);
  }

  markRead(user: string, selection: string[] | 'all'): Promise<number> {
    return this.connection.run('inbox mark', (redis) => redis.heraldInboxMark(this.inboxKeys(user), this.options.inboxTtlMs, selection, this.eventChannel(user)));
  }

  private eventChannel(user: string): InboxEventChannel {
    const room = personalRoom(user);
    const channel = this.keys.channel(room);
    return { channel, messagePrefix: this.keys.sharedMessagePrefix(room, channel), pubsub: this.keys.pubsub };
  }

  private inboxKeys(user: string): InboxKeys {
    return { items: this.keys.inbox(user), read: this.keys.inboxRead(user) };
  }
}
