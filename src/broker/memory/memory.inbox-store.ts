import { Logger } from '@nestjs/common';
import { InboxItem, InboxPage, personalRoom } from '@herald/client/protocol';
import { InboxItemState, InboxOptions, InboxStore, PageBudget, inboxEvent, inboxPage, unreadCount } from '../inbox.store';
import { evictionTargetBytes } from './eviction-target';

export interface MemoryInboxOptions extends InboxOptions {
  /** INBOX_MEMORY_MAX_MB in bytes, for every inbox together; unbounded when omitted. */
  memoryMaxBytes?: number;
}

interface StoredItem extends InboxItem {
  storedAtMs: number;
  /** What the item counts against the memory budget (itemSizeBytes). */
  sizeBytes: number;
}

/** How often expired items are dropped even for users nobody reads, and evictions reported. */
const SWEEP_MS = 30_000;

/**
 * Heap an item takes beyond its payload, id and type: the object, its seq and timestamp strings
 * (measured with V8 at about 290 bytes), rounded up.
 */
const ITEM_OVERHEAD_BYTES = 300;

/** Heap an inbox takes beyond its items and its user's name: the Map entry and the array. */
const INBOX_OVERHEAD_BYTES = 200;

/**
 * The embedded engine's inboxes: per user, oldest first, at most inboxSize, each item for
 * inboxTtlMs. MemoryBroker adds to it in the same synchronous step as the publish.
 *
 * Every inbox together stays within memoryMaxBytes (INBOX_MEMORY_MAX_MB): without it one batch
 * to 90,000 distinct users kept about 50 MB for INBOX_TTL_DAYS, and nothing bounded how many
 * such batches a pod would keep. Past the budget, the inboxes written least recently are
 * dropped whole until the store is a little under it: a user's newest notifications are the
 * ones worth keeping, and a partly dropped inbox would misstate its unread count. The inbox just
 * written is always kept. Sizes are estimates: an item counts as its payload's JSON plus a fixed
 * overhead, as if it held its own copy of the payload (the users of one notification share it,
 * so the store may hold less than it counts).
 */
export class MemoryInboxStore extends InboxStore {
  private readonly logger = new Logger(MemoryInboxStore.name);
  /** Least recently written first: add() moves a user to the end. */
  private readonly itemsByUser = new Map<string, StoredItem[]>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly memoryMaxBytes: number;
  /** Where a pass of evictions stops (evictionTargetBytes). */
  private readonly evictedDownToBytes: number;
  private heldBytes = 0;
  /** The users of one notification share its payload: measured once (keeping that one payload alive). */
  private lastPayload: { payload: unknown; jsonBytes: number } | undefined;
  private evictedSinceReport = 0;
  private evictedTotal = 0;
  private lastReportMs = -Infinity;

  /**
   * `broadcast` hands a frame to the broker's delivery path in the caller's turn
   * (MemoryBroker.broadcast), so a mark's `inbox` event is queued in the same synchronous step
   * as the mark, between the publications before and after it.
   */
  constructor(
    private readonly options: MemoryInboxOptions,
    private readonly broadcast: (room: string, frame: string) => void,
  ) {
    super();
    this.memoryMaxBytes = options.memoryMaxBytes ?? Infinity;
    this.evictedDownToBytes = evictionTargetBytes(this.memoryMaxBytes);
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), Math.min(options.inboxTtlMs, SWEEP_MS));
    this.sweepTimer.unref();
  }

  /** Stores a notification published to the user's personal room (MemoryBroker.publish), as published. */
  add(user: string, seq: string, body: Record<string, unknown>, nowMs: number): void {
    let items = this.itemsByUser.get(user);
    if (items) {
      this.itemsByUser.delete(user);
    } else {
      items = [];
      this.heldBytes += INBOX_OVERHEAD_BYTES + user.length;
    }
    this.itemsByUser.set(user, items);
    const { id, type, payload, timestamp } = body as Omit<InboxItem, 'seq' | 'read'>;
    const sizeBytes = ITEM_OVERHEAD_BYTES + id.length + type.length + this.payloadBytes(payload);
    items.push({ id, seq, type, payload, timestamp, read: false, storedAtMs: nowMs, sizeBytes });
    this.heldBytes += sizeBytes;
    if (items.length > this.options.inboxSize) this.release(items.splice(0, items.length - this.options.inboxSize));
    if (this.heldBytes > this.memoryMaxBytes) this.evictFor(user, nowMs);
  }

  async read(user: string, limit: number, before?: string): Promise<InboxPage> {
    const budget = { bytes: new PageBudget(this.options.pageMaxBytes), sizeOf: (item: StoredItem) => item.sizeBytes };
    return inboxPage(this.live(user, Date.now()), limit, before, ({ storedAtMs: _, sizeBytes: __, ...item }) => item, budget);
  }

  /** Walks back from the newest, as far as the seq: a reminder's notification is usually among the newest. */
  async itemState(user: string, { id, seq }: Pick<InboxItem, 'id' | 'seq'>): Promise<InboxItemState> {
    const items = this.live(user, Date.now());
    for (let index = items.length - 1; index >= 0; index--) {
      const item = items[index];
      if (item.seq === seq) return item.id !== id ? 'absent' : item.read ? 'read' : 'unread';
      // Seqs grow with each publish to the personal room, and compare as strings (seq.ts).
      if (item.seq < seq) break;
    }
    return 'absent';
  }

  async markRead(user: string, selection: string[] | 'all'): Promise<number> {
    const items = this.live(user, Date.now());
    const wanted = selection === 'all' ? undefined : new Set(selection);
    const marked: string[] = [];
    for (const item of items) {
      if (item.read || (wanted && !wanted.has(item.id))) continue;
      item.read = true;
      marked.push(item.id);
    }
    const unread = unreadCount(items);
    if (marked.length > 0) this.broadcast(personalRoom(user), inboxEvent(unread, selection, marked));
    return unread;
  }

  /** Users with items held (leak checks of this driver). */
  get users(): number {
    return this.itemsByUser.size;
  }

  override get evictedInboxes(): number {
    return this.evictedTotal;
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  /** Drops the least recently written inboxes until the store is back under its budget with headroom, or only `writtenUser`'s is left. */
  private evictFor(writtenUser: string, nowMs: number): void {
    for (const [user, items] of this.itemsByUser) {
      if (this.heldBytes <= this.evictedDownToBytes || user === writtenUser) break;
      this.drop(user, items);
      this.evictedSinceReport++;
      this.evictedTotal++;
    }
    if (nowMs - this.lastReportMs >= SWEEP_MS) this.reportEvictions(nowMs);
  }

  /**
   * At most about one line per SWEEP_MS however many inboxes go (a flood evicts thousands a
   * second); counts only, never a user or a payload.
   */
  private reportEvictions(nowMs: number): void {
    if (this.evictedSinceReport === 0) return;
    this.lastReportMs = nowMs;
    this.logger.warn({
      message: 'Inbox memory budget reached (INBOX_MEMORY_MAX_MB): the least recently written inboxes were dropped',
      evictedInboxes: this.evictedSinceReport,
      inboxes: this.itemsByUser.size,
      heldMb: Math.round(this.heldBytes / 1024 / 1024),
      budgetMb: Math.round(this.memoryMaxBytes / 1024 / 1024),
    });
    this.evictedSinceReport = 0;
  }

  private payloadBytes(payload: unknown): number {
    if (this.lastPayload !== undefined && this.lastPayload.payload === payload) return this.lastPayload.jsonBytes;
    const jsonBytes = JSON.stringify(payload).length;
    this.lastPayload = { payload, jsonBytes };
    return jsonBytes;
  }

  private drop(user: string, items: StoredItem[]): void {
    this.release(items);
    this.heldBytes -= INBOX_OVERHEAD_BYTES + user.length;
    this.itemsByUser.delete(user);
  }

  private release(items: readonly StoredItem[]): void {
    for (const item of items) this.heldBytes -= item.sizeBytes;
  }

  /** Drops expired items, and users left with none; reports evictions not reported yet. */
  private sweep(nowMs: number): void {
    for (const user of this.itemsByUser.keys()) this.live(user, nowMs);
    this.reportEvictions(nowMs);
  }

  private live(user: string, nowMs: number): StoredItem[] {
    const items = this.itemsByUser.get(user);
    if (!items) return [];
    const firstLive = items.findIndex((item) => nowMs - item.storedAtMs < this.options.inboxTtlMs);
    if (firstLive === -1) {
      this.drop(user, items);
      return [];
    }
    if (firstLive > 0) this.release(items.splice(0, firstLive));
    return items;
  }
}
