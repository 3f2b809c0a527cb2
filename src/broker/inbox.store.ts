import { InboxItem, InboxPage } from '@herald/client/protocol';
import { serverFrame } from '../connections/server-frame';

/**
 * Each user's inbox of notifications (section 6). It is written by `Broker.publish` with
 * `inboxUser`, in the same atomic step as the publication, so it never disagrees with the
 * room's stream; this seam reads it and keeps its read state.
 *
 * Contract every implementation keeps (test/broker/inbox-store.contract.ts runs against each):
 * - Pages are newest first; `before` pages back, `next` is the cursor to the rest (null at the end).
 * - At most INBOX_SIZE items per user, each kept for INBOX_TTL_DAYS; trimmed items take their
 *   read marks with them.
 * - Marking read names ids or 'all'; unknown ids are ignored; the answer is the unread count after.
 * - A mark that changed something (and only such a mark) delivers the `inbox` event (inboxEvent) to the user's personal
 *   room on every pod, through the broker's delivery path, in the same atomic step as the mark:
 *   a notification stored before the mark reaches the user's connections before the event (whose
 *   `unread` counts it), one stored after reaches them after it. Broadcast as a second step, a
 *   notification stored in between arrived first and the event's older count then hid it.
 */
export abstract class InboxStore {
  /** A page of the user's inbox, newest first. */
  abstract read(user: string, limit: number, before?: string): Promise<InboxPage>;
  /**
   * Whether the notification `item` names (its id at its seq) is in the user's inbox, and read:
   * 'absent' when trimmed, expired or never there, and when the item at that seq carries another
   * id. It looks up that one item, without counting unread items or reading any other: the
   * notification.unread check makes one per reminder, on inboxes of up to INBOX_SIZE (10,000).
   */
  abstract itemState(user: string, item: Pick<InboxItem, 'id' | 'seq'>): Promise<InboxItemState>;
  /**
   * Marks inbox items read (unknown ids are ignored) and, when that changed anything, tells the
   * user's connections (the `inbox` event says what); resolves with the inbox's unread count.
   */
  abstract markRead(user: string, selection: string[] | 'all'): Promise<number>;
  /** Inboxes dropped whole to stay within a memory budget since start (INBOX_MEMORY_MAX_MB); none where the store has no budget. */
  get evictedInboxes(): number {
    return 0;
  }
}

export type InboxItemState = 'unread' | 'read' | 'absent';

export interface InboxOptions {
  inboxSize: number;
  /** INBOX_TTL_DAYS in milliseconds. */
  inboxTtlMs: number;
  /** INBOX_PAGE_MAX_BYTES: a page's items, as stored, stop short of it (but for its first); unbounded when omitted. */
  pageMaxBytes?: number;
}

/** What an inbox item is made of: the notification a publication's body carries. */
export function inboxItemOf(seq: string, bodyJson: string, read: boolean): InboxItem {
  const { id, type, payload, timestamp } = JSON.parse(bodyJson) as InboxItem;
  return { id, seq, type, payload, timestamp, read };
}

/**
 * One page of an inbox, the same for every driver: `oldestFirst` is the user's live items in the
 * order they were stored; the page holds up to `limit` of those older than `before`, newest
 * first, each as `itemOf` makes it, and `next` is the cursor to the rest. It walks back from the
 * newest and copies only the page: an inbox may hold INBOX_SIZE (up to 10,000) items, and an
 * unread check reads a page of one.
 */
export function inboxPage<Stored extends InboxItem>(
  oldestFirst: readonly Stored[],
  limit: number,
  before: string | undefined,
  itemOf: (stored: Stored) => InboxItem = (stored) => stored,
  budget: { bytes: PageBudget; sizeOf: (stored: Stored) => number } = { bytes: new PageBudget(), sizeOf: () => 0 },
): InboxPage {
  const items: InboxItem[] = [];
  let next: string | null = null;
  for (let index = oldestFirst.length - 1; index >= 0; index--) {
    const stored = oldestFirst[index];
    if (before !== undefined && !(stored.seq < before)) continue;
    if (items.length === limit || !budget.bytes.takes(budget.sizeOf(stored))) {
      next = items[items.length - 1].seq;
      break;
    }
    items.push(itemOf(stored));
  }
  return { items, unread: unreadCount(oldestFirst), next };
}

/**
 * INBOX_PAGE_MAX_BYTES as a page fills (both stores): whether the next item, of `size` bytes,
 * still goes on it. The first always does, so a page holds an item whenever one is left.
 */
export class PageBudget {
  private bytes = 0;
  private items = 0;

  constructor(private readonly maxBytes = Infinity) {}

  takes(size: number): boolean {
    if (this.items > 0 && this.bytes + size > this.maxBytes) return false;
    this.items++;
    this.bytes += size;
    return true;
  }
}

export function unreadCount(items: readonly Pick<InboxItem, 'read'>[]): number {
  return items.reduce((count, item) => count + (item.read ? 0 : 1), 0);
}

/**
 * The `inbox` event a mark that changed something delivers (section 6): `read` lists the ids
 * newly marked in the order the client named them, or 'all'.
 */
export function inboxEvent(unread: number, selection: string[] | 'all', marked: readonly string[]): string {
  const newlyRead = new Set(marked);
  const read = selection === 'all' ? 'all' : [...new Set(selection)].filter((id) => newlyRead.has(id));
  return serverFrame('inbox', { unread, read });
}
