import { InboxItem, InboxPage } from '@herald/client/protocol';
import { InboxOptions, InboxReadResult, InboxStore, inboxPage, inboxReadResult, unreadCount } from '../inbox.store';

interface StoredItem extends InboxItem {
  storedAtMs: number;
}

/** How often expired items are dropped even for users nobody reads. */
const SWEEP_MS = 30_000;

/**
 * The embedded engine's inboxes: per user, oldest first, at most inboxSize, each item for
 * inboxTtlMs. MemoryBroker adds to it in the same synchronous step as the publish.
 */
export class MemoryInboxStore extends InboxStore {
  private readonly itemsByUser = new Map<string, StoredItem[]>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly options: InboxOptions) {
    super();
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), Math.min(options.inboxTtlMs, SWEEP_MS));
    this.sweepTimer.unref();
  }

  /** Stores a notification published to the user's personal room (MemoryBroker.publish), as published. */
  add(user: string, seq: string, body: Record<string, unknown>, nowMs: number): void {
    let items = this.itemsByUser.get(user);
    if (!items) this.itemsByUser.set(user, (items = []));
    const { id, type, payload, timestamp } = body as Omit<InboxItem, 'seq' | 'read'>;
    items.push({ id, seq, type, payload, timestamp, read: false, storedAtMs: nowMs });
    if (items.length > this.options.inboxSize) items.splice(0, items.length - this.options.inboxSize);
  }

  async read(user: string, limit: number, before?: string): Promise<InboxPage> {
    const newestFirst = this.live(user, Date.now())
      .map(({ storedAtMs: _, ...item }) => item)
      .reverse();
    return inboxPage(newestFirst, limit, before);
  }

  async markRead(user: string, selection: string[] | 'all'): Promise<InboxReadResult> {
    const items = this.live(user, Date.now());
    const wanted = selection === 'all' ? undefined : new Set(selection);
    const marked: string[] = [];
    for (const item of items) {
      if (item.read || (wanted && !wanted.has(item.id))) continue;
      item.read = true;
      marked.push(item.id);
    }
    return inboxReadResult(unreadCount(items), selection, marked);
  }

  /** Users with items held (leak checks of this driver). */
  get users(): number {
    return this.itemsByUser.size;
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  /** Drops expired items, and users left with none. */
  private sweep(nowMs: number): void {
    for (const user of this.itemsByUser.keys()) this.live(user, nowMs);
  }

  private live(user: string, nowMs: number): StoredItem[] {
    const items = this.itemsByUser.get(user);
    if (!items) return [];
    const firstLive = items.findIndex((item) => nowMs - item.storedAtMs < this.options.inboxTtlMs);
    if (firstLive === -1) {
      this.itemsByUser.delete(user);
      return [];
    }
    if (firstLive > 0) items.splice(0, firstLive);
    return items;
  }
}
