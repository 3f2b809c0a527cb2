import { InboxItem, InboxPage } from '@herald/client/protocol';
import { InboxOptions, InboxReadResult, inboxPage, inboxReadResult, unreadCount } from '../broker';

interface StoredItem extends InboxItem {
  storedAtMs: number;
}

/** The embedded broker's inboxes: per user, oldest first, at most inboxSize, each item for inboxTtlDays. */
export class MemoryInbox {
  private readonly itemsByUser = new Map<string, StoredItem[]>();
  private readonly ttlMs: number;

  constructor(private readonly options: InboxOptions) {
    this.ttlMs = options.inboxTtlDays * 86_400_000;
  }

  add(user: string, item: Omit<InboxItem, 'read'>, nowMs: number): void {
    let items = this.itemsByUser.get(user);
    if (!items) this.itemsByUser.set(user, (items = []));
    items.push({ ...item, read: false, storedAtMs: nowMs });
    if (items.length > this.options.inboxSize) items.splice(0, items.length - this.options.inboxSize);
  }

  page(user: string, limit: number, before: string | undefined, nowMs: number): InboxPage {
    const newestFirst = this.live(user, nowMs).map(({ storedAtMs: _, ...item }) => item).reverse();
    return inboxPage(newestFirst, limit, before);
  }

  markRead(user: string, selection: string[] | 'all', nowMs: number): InboxReadResult {
    const items = this.live(user, nowMs);
    const wanted = selection === 'all' ? undefined : new Set(selection);
    const marked: string[] = [];
    for (const item of items) {
      if (item.read || (wanted && !wanted.has(item.id))) continue;
      item.read = true;
      marked.push(item.id);
    }
    return inboxReadResult(unreadCount(items), selection, marked);
  }

  /** Drops expired items, and users left with none. */
  sweep(nowMs: number): void {
    for (const user of this.itemsByUser.keys()) this.live(user, nowMs);
  }

  private live(user: string, nowMs: number): StoredItem[] {
    const items = this.itemsByUser.get(user);
    if (!items) return [];
    const firstLive = items.findIndex((item) => nowMs - item.storedAtMs < this.ttlMs);
    if (firstLive === -1) {
      this.itemsByUser.delete(user);
      return [];
    }
    if (firstLive > 0) items.splice(0, firstLive);
    return items;
  }
}
