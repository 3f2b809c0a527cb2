import { Logger } from '@nestjs/common';
import { Broker, Delivery, DeliveryListener, HistoryResult, Publication, PublishIdClaim, PublishOptions, PublishResult, PublishedEvent } from '../broker';
import { canRecover, formatSeq, newEpoch, parseSeq } from '../seq';
import { evictionTargetBytes } from './eviction-target';
import { MemoryInboxStore } from './memory.inbox-store';

export interface MemoryBrokerOptions {
  historySize: number;
  historyTtlS: number;
  /** HISTORY_MEMORY_MAX_MB in bytes, for every room's history together; unbounded when omitted. */
  historyMemoryMaxBytes?: number;
}

interface HistoryEntry {
  position: number;
  publication: Publication;
  /** What it is counted as against historyMemoryMaxBytes. */
  bytes: number;
}

/** Counted per message besides its body: the publication, the entry and their strings. */
const ENTRY_OVERHEAD_BYTES = 300;
/** Counted per room held, besides its name: its history object, epoch and map entry. */
const ROOM_OVERHEAD_BYTES = 300;
/** Counted per de-duplication record besides its key and fingerprint: the record and its map entry. */
const RECORD_OVERHEAD_BYTES = 120;
/** At most one budget warning per this long, however many rooms a flood empties. */
const BUDGET_REPORT_MS = 30_000;

/** A key seen inside the history window, with what its request carried. */
interface BoundKey {
  fingerprint: string | undefined;
  expiresAtMs: number;
  /** What it is counted as against historyMemoryMaxBytes. */
  bytes: number;
}

interface RoomHistory {
  epoch: string;
  latestPosition: number;
  /** Oldest first; never longer than historySize. */
  entries: HistoryEntry[];
  /** The entries' bytes together. */
  bytes: number;
  lastTouchMs: number;
}

/**
 * The embedded broker for a single pod. Everything lives in this process, so publish, order
 * and history are exact by construction; deliveries still go out asynchronously (a microtask)
 * so callers see the same timing shape as with Redis. A publish with `inboxUser` stores the
 * item in the engine's MemoryInboxStore in the same synchronous step.
 */
export class MemoryBroker extends Broker {
  private readonly logger = new Logger(MemoryBroker.name);
  private listener: DeliveryListener = () => undefined;
  private readonly subscribed = new Set<string>();
  private readonly histories = new Map<string, RoomHistory>();
  /** Rooms holding messages, least recently published first: whose history the budget empties first. */
  private readonly publishedRooms = new Set<string>();
  /** Rooms holding no message with no member here, longest so first: let go before any history is emptied. */
  private readonly idleRooms = new Set<string>();
  /**
   * `${room}\n${dedupKey}` -> the request's fingerprint and expiry: keys are per room, as in
   * Redis. Oldest first (bind), as publishIds: the budget lets the oldest go first.
   */
  private readonly dedupKeys = new Map<string, BoundKey>();
  /** publish id -> the fingerprint it is bound to, for claimPublishId. */
  private readonly publishIds = new Map<string, BoundKey>();
  /** Both maps' records together, for historyMemoryMaxBytes. */
  private recordsBytes = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly historyTtlMs: number;
  /** Deliveries queued and not yet handed to the listener: while any is, historyNow defers to history. */
  private deliveriesInFlight = 0;
  /** Every room's entries' bytes together, for historyMemoryMaxBytes. */
  private historyBytes = 0;
  /** What the rooms held cost besides their entries (ROOM_OVERHEAD_BYTES and the name), for historyMemoryMaxBytes too. */
  private roomsBytes = 0;
  private lastBudgetReportMs = -Infinity;
  /** What the budget let go of since its last warning (at most one per BUDGET_REPORT_MS). */
  private readonly letGoSinceReport = { emptiedRooms: 0, droppedRecords: 0 };

  constructor(
    private readonly options: MemoryBrokerOptions,
    private readonly inbox: MemoryInboxStore,
  ) {
    super();
    this.historyTtlMs = options.historyTtlS * 1000;
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(this.historyTtlMs, 30_000));
    this.sweepTimer.unref();
  }

  onDelivery(listener: DeliveryListener): void {
    this.listener = listener;
  }

  async publish(room: string, event: PublishedEvent, body: Record<string, unknown>, options?: PublishOptions): Promise<PublishResult> {
    const now = Date.now();
    if (options?.dedupKey !== undefined) {
      const key = `${room}\n${options.dedupKey}`;
      const seen = this.dedupKeys.get(key);
      if (seen !== undefined && seen.expiresAtMs > now) return { duplicate: true, conflict: seen.fingerprint !== options.fingerprint };
      this.bind(this.dedupKeys, key, options.fingerprint, now);
    }
    const history = this.roomHistory(room, now);
    const position = ++history.latestPosition;
    const seq = formatSeq(history.epoch, position);
    const publication: Publication = { kind: 'publication', room, seq, event, body: options?.bodyJson ?? JSON.stringify(body), publishedAtMs: now };
    this.keep(room, history, { position, publication, bytes: publication.body.length + ENTRY_OVERHEAD_BYTES }, now);
    if (options?.inboxUser !== undefined) this.inbox.add(options.inboxUser, seq, body, now);
    this.deliver(publication);
    return { duplicate: false, seq };
  }

  async claimPublishId(id: string, fingerprint: string): Promise<PublishIdClaim> {
    const now = Date.now();
    const bound = this.publishIds.get(id);
    if (bound !== undefined && bound.expiresAtMs > now) return bound.fingerprint === fingerprint ? 'repeat' : 'conflict';
    this.bind(this.publishIds, id, fingerprint, now);
    this.keepWithinBudget(undefined, now);
    return 'first';
  }

  /** Records a key for the history window, at the end of its map (the maps stay oldest first). */
  private bind(records: Map<string, BoundKey>, key: string, fingerprint: string | undefined, now: number): void {
    const previous = records.get(key);
    if (previous) this.unbind(records, key, previous);
    const bytes = RECORD_OVERHEAD_BYTES + 2 * (key.length + (fingerprint?.length ?? 0));
    records.set(key, { fingerprint, expiresAtMs: now + this.historyTtlMs, bytes });
    this.recordsBytes += bytes;
  }

  private unbind(records: Map<string, BoundKey>, key: string, record: BoundKey): void {
    records.delete(key);
    this.recordsBytes -= record.bytes;
  }

  async broadcast(room: string, frame: string, excludeUser?: string): Promise<void> {
    this.broadcastNow(room, frame, excludeUser);
  }

  /** Queues the broadcast in the caller's turn, behind every publication already queued (MemoryInboxStore's marks). */
  broadcastNow(room: string, frame: string, excludeUser?: string): void {
    this.deliver(excludeUser === undefined ? { kind: 'broadcast', room, frame } : { kind: 'broadcast', room, frame, excludeUser });
  }

  async subscribe(room: string): Promise<void> {
    this.subscribeNow(room);
  }

  subscribeNow(room: string): boolean {
    // A life that lapsed while nobody followed the room, and is not swept yet, ends here:
    // followed, it never expires (isExpired), and a `since` from it recovered where Redis, whose
    // keys expired on time, answers recovered: false.
    const history = this.histories.get(room);
    if (history && !this.subscribed.has(room) && this.isExpired(room, history, Date.now())) this.drop(room, history);
    this.subscribed.add(room);
    this.idleRooms.delete(room);
    return true;
  }

  /**
   * The room's history life, even one that never carried a message, outlives its last member by
   * HISTORY_TTL_S: the seq its joins handed out is a `since` that recovers what is published
   * meanwhile (docs/protocol.md section 9). The sweep then drops it, so rooms nobody is in cost
   * memory for one history window at most.
   */
  async unsubscribe(room: string): Promise<void> {
    this.subscribed.delete(room);
    const history = this.histories.get(room);
    if (!history) return;
    history.lastTouchMs = Date.now();
    if (history.entries.length === 0) this.idleRooms.add(room);
  }

  async history(room: string, since?: string): Promise<HistoryResult> {
    return this.read(room, since);
  }

  historyNow(room: string, since?: string): HistoryResult | undefined {
    return this.deliveriesInFlight === 0 ? this.read(room, since) : undefined;
  }

  private read(room: string, since: string | undefined): HistoryResult {
    const now = Date.now();
    // Reading starts the room's history life when it has none, so even a room nobody has
    // published to yet hands out a seq that a later `since` can recover from.
    const history = this.roomHistory(room, now);
    const latestSeq = formatSeq(history.epoch, history.latestPosition);
    if (since === undefined) return { latestSeq, recovered: false, publications: [] };
    const parsed = parseSeq(since);
    const live = history.entries.filter((entry) => now - entry.publication.publishedAtMs < this.historyTtlMs);
    if (!parsed || !canRecover(parsed, history.epoch, history.latestPosition, live[0]?.position)) {
      return { latestSeq, recovered: false, publications: [] };
    }
    return {
      latestSeq,
      recovered: true,
      publications: live.filter((entry) => entry.position > parsed.position).map((entry) => entry.publication),
    };
  }

  get available(): boolean {
    return true;
  }

  onAvailabilityChange(): void {
    // In-process: never changes.
  }

  get subscribedRooms(): number {
    return this.subscribed.size;
  }

  /** Rooms whose history this process holds, and de-duplication records (leak checks of this driver). */
  retained(): { historyRooms: number; dedupKeys: number } {
    return { historyRooms: this.histories.size, dedupKeys: this.dedupKeys.size + this.publishIds.size };
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.subscribed.clear();
  }

  private deliver(delivery: Delivery): void {
    if (!this.subscribed.has(delivery.room)) return;
    this.deliveriesInFlight++;
    // Asynchronous like a network broker, so a publisher never re-enters its own caller.
    queueMicrotask(() => {
      this.deliveriesInFlight--;
      try {
        this.listener(delivery);
      } catch (error) {
        this.logger.error({ message: 'Delivery listener failed', room: delivery.room, error: String(error) });
      }
    });
  }

  /**
   * Adds a publication to its room's history, trimmed to historySize, and keeps every history
   * together within HISTORY_MEMORY_MAX_MB as the inbox store keeps its budget: histories are
   * held least recently published first, and past the budget the oldest of them are emptied
   * (their epoch stays, so a rejoin that needed them answers `recovered: false`), never the room
   * just written. A publish to a thousand rooms keeps a copy of its body per room, and a few
   * such requests filled the heap.
   */
  private keep(room: string, history: RoomHistory, entry: HistoryEntry, now: number): void {
    history.entries.push(entry);
    history.bytes += entry.bytes;
    this.historyBytes += entry.bytes;
    if (history.entries.length > this.options.historySize) this.forget(history, history.entries.shift()!.bytes);
    this.idleRooms.delete(room);
    // Moved to the end: the set is in least-recently-published order.
    this.publishedRooms.delete(room);
    this.publishedRooms.add(room);
    this.keepWithinBudget(room, now);
  }

  /**
   * Past HISTORY_MEMORY_MAX_MB, first lets go of the oldest publish-id records beyond half of it
   * (a retry of such a publish is then delivered again), then of the rooms nobody is in that hold
   * no message (longest idle first), then empties the least recently published rooms' histories
   * (their epoch stays), never `room`'s, and last lets go of more records. Records count because a
   * publisher's distinct ids to a thousand rooms each were one record per room and id, kept for
   * the whole window: a few thousand batches held a gigabyte; half the budget keeps histories
   * from being pushed out by them. Rooms count too: a room joined once is held for HISTORY_TTL_S
   * so its joined seq stays a valid `since`, and a client joining and leaving fresh rooms grew
   * the heap by about 600 bytes a room. In that order, such rooms (335,000 in 20 s from 40
   * clients) no longer cost a room that is talked in its history. Each pass visits only what it
   * lets go or empties (and the entries deleted since its Set last rehashed), and `room`: rooms
   * with members and no message are in neither order.
   */
  private keepWithinBudget(room: string | undefined, now: number): void {
    const budget = this.options.historyMemoryMaxBytes ?? Infinity;
    const held = () => this.historyBytes + this.roomsBytes + this.recordsBytes;
    if (held() <= budget) return;
    // Down to a little under the budget (evictionTargetBytes), not to it: then one pass serves
    // many writes, instead of every write past it paying a pass that evicts one item.
    const target = evictionTargetBytes(budget);
    const overTarget = () => held() > target;
    let records = this.dropOldestRecords(() => this.recordsBytes > target / 2);
    for (const idle of this.idleRooms) {
      if (!overTarget()) break;
      if (idle !== room) this.drop(idle, this.histories.get(idle)!);
    }
    let emptied = 0;
    for (const published of this.publishedRooms) {
      if (!overTarget()) break;
      if (published === room) continue;
      const history = this.histories.get(published)!;
      this.forget(history, history.bytes);
      history.entries = [];
      this.publishedRooms.delete(published);
      if (!this.subscribed.has(published)) this.idleRooms.add(published);
      emptied++;
    }
    records += this.dropOldestRecords(overTarget);
    this.letGoSinceReport.emptiedRooms += emptied;
    this.letGoSinceReport.droppedRecords += records;
    const { emptiedRooms, droppedRecords } = this.letGoSinceReport;
    if ((emptiedRooms > 0 || droppedRecords > 0) && now - this.lastBudgetReportMs >= BUDGET_REPORT_MS) {
      this.lastBudgetReportMs = now;
      this.logger.warn({ message: "History memory budget reached (HISTORY_MEMORY_MAX_MB): the least recently published rooms' histories or the oldest publish-id records were dropped", emptiedRooms, droppedRecords });
      Object.assign(this.letGoSinceReport, { emptiedRooms: 0, droppedRecords: 0 });
    }
  }

  /**
   * Lets go of the oldest publish-id records while `tooMany()`; returns how many. Both maps are
   * oldest first: one walk through each, merged. A fresh iterator per record walked again past
   * every record deleted since the map last rehashed: a pass letting go of thousands was
   * quadratic in them.
   */
  private dropOldestRecords(tooMany: () => boolean): number {
    const dedupKeys = this.dedupKeys.entries();
    const publishIds = this.publishIds.entries();
    let [dedupKey, publishId] = [dedupKeys.next(), publishIds.next()];
    let dropped = 0;
    while (tooMany()) {
      if (!dedupKey.done && (publishId.done || dedupKey.value[1].expiresAtMs <= publishId.value[1].expiresAtMs)) {
        this.unbind(this.dedupKeys, dedupKey.value[0], dedupKey.value[1]);
        dedupKey = dedupKeys.next();
      } else if (!publishId.done) {
        this.unbind(this.publishIds, publishId.value[0], publishId.value[1]);
        publishId = publishIds.next();
      } else {
        break;
      }
      dropped++;
    }
    return dropped;
  }

  /** Lets go of a room's history and all it was counted as. */
  private drop(room: string, history: RoomHistory): void {
    this.forget(history, history.bytes);
    this.roomsBytes -= roomBytes(room);
    this.histories.delete(room);
    this.publishedRooms.delete(room);
    this.idleRooms.delete(room);
  }

  /** Counts `bytes` of a room's history as gone. */
  private forget(history: RoomHistory, bytes: number): void {
    history.bytes -= bytes;
    this.historyBytes -= bytes;
  }

  /** The room's current history life, started anew when it had none or it expired. */
  private roomHistory(room: string, now: number): RoomHistory {
    let history = this.histories.get(room);
    if (!history || this.isExpired(room, history, now)) {
      if (history) this.drop(room, history);
      history = { epoch: newEpoch(now), latestPosition: 0, entries: [], bytes: 0, lastTouchMs: now };
      this.histories.set(room, history);
      this.roomsBytes += roomBytes(room);
      if (!this.subscribed.has(room)) this.idleRooms.add(room);
      this.keepWithinBudget(room, now);
    }
    history.lastTouchMs = now;
    return history;
  }

  /**
   * A room's history life ends HISTORY_TTL_S after it was last used, unless members are
   * subscribed here: then its epoch stays valid however quiet the room is (history() still
   * serves only entries younger than the TTL).
   */
  private isExpired(room: string, history: RoomHistory, now: number): boolean {
    return !this.subscribed.has(room) && now - history.lastTouchMs >= this.historyTtlMs;
  }

  /** Drops rooms whose whole history expired and publish ids past the window. */
  private sweep(): void {
    const now = Date.now();
    for (const [room, history] of this.histories) {
      if (!this.isExpired(room, history, now)) continue;
      this.drop(room, history);
    }
    for (const records of [this.dedupKeys, this.publishIds]) {
      for (const [key, record] of records) if (record.expiresAtMs <= now) this.unbind(records, key, record);
    }
  }
}

/** What a held room counts as against HISTORY_MEMORY_MAX_MB besides its entries. */
function roomBytes(room: string): number {
  return ROOM_OVERHEAD_BYTES + 2 * room.length;
}
