import { InboxItem, InboxPage, PERSONAL_ROOM_PREFIX } from '@herald/client/protocol';

/**
 * The seam between one pod and the rest of the cluster. Herald ships two implementations side
 * by side: MemoryBroker (one pod, the default) and RedisBroker (any number of pods).
 *
 * Contract every implementation keeps (test/broker/broker.contract.ts runs against each):
 * - One delivery path: everything published, by this pod or any other, reaches this pod's
 *   delivery listener exactly once per subscribed room, and never for rooms it does not subscribe.
 * - Order: every pod sees a room's publications in the same order, and `seq` increases along it.
 * - History: `history(room, since)` returns what followed `since`, and says `recovered: true`
 *   only when it can prove nothing is missing (same room epoch, inside HISTORY_SIZE / HISTORY_TTL_S).
 * - De-duplication: a publish carrying a `dedupKey` already seen in the same room inside the
 *   history window is reported as a duplicate and delivered to no one; with another
 *   `fingerprint` than the first it is also a conflict. Keys are per room, so a retry reaches
 *   exactly the rooms that missed the first attempt. `claimPublishId` binds an id to one
 *   fingerprint across all rooms, so a conflicting repeat can be refused before any room.
 * - Delivery is at most once: a pod that misses a publication (broker outage) recovers it
 *   through history, not through redelivery.
 */
export abstract class Broker {
  /**
   * Connects to the backing store before the pod takes traffic; rejects with a message that
   * names what is wrong (never a password) when it cannot. Later outages never reject here:
   * they show as `available` false while the broker reconnects.
   */
  abstract connect(): Promise<void>;

  /** Registers the single listener that receives every delivery for this pod's subscribed rooms. */
  abstract onDelivery(listener: DeliveryListener): void;

  /** Appends to the room's history and delivers to every subscribed pod, in one atomic step. */
  abstract publish(room: string, event: PublishedEvent, body: Record<string, unknown>, options?: PublishOptions): Promise<PublishResult>;

  /**
   * Binds a publish id to its request's fingerprint for the history window, atomically across
   * pods: 'first' when the id was unseen (it is bound now), 'repeat' when it is bound to this
   * fingerprint, 'conflict' when to another. Claimed before publishing to any room, so a
   * conflicting repeat reaches none of them, not even a room the first request did not name.
   */
  abstract claimPublishId(id: string, fingerprint: string): Promise<PublishIdClaim>;

  /** Delivers an ephemeral frame (presence, inbox state) to the room on every pod; no history, no seq. */
  abstract broadcast(room: string, frame: string, excludeUser?: string): Promise<void>;

  /** Starts receiving the room's deliveries on this pod. Callers reference-count: see RoomSubscriptions. */
  abstract subscribe(room: string): Promise<void>;
  abstract unsubscribe(room: string): Promise<void>;

  /** The room's latest seq and, with `since`, the publications after it. */
  abstract history(room: string, since?: string): Promise<HistoryResult>;

  /** Records one connection of a user in a room, cluster-wide. */
  abstract addPresence(room: string, user: string, connectionId: string): Promise<PresenceChange>;
  /** Forgets one connection of a user in a room, cluster-wide. */
  abstract removePresence(room: string, user: string, connectionId: string): Promise<PresenceChange>;
  abstract presence(room: string): Promise<PresenceSnapshot>;
  /**
   * Registers the listener told when a user's last connection in a room vanished without a
   * remove: its pod died and the entry expired. Called once cluster-wide per such user, on
   * whichever pod noticed; `users` counts the room's distinct users afterwards.
   */
  abstract onPresenceExpired(listener: PresenceExpiredListener): void;

  /**
   * A page of the user's inbox, newest first (section 6). The inbox is written by `publish`,
   * in the same atomic step, for every notification to `user:<user>`.
   */
  abstract readInbox(user: string, limit: number, before?: string): Promise<InboxPage>;

  /** Marks inbox items read (unknown ids are ignored); says what changed, if anything. */
  abstract markInboxRead(user: string, selection: string[] | 'all'): Promise<InboxReadResult>;

  /** Whether the broker can serve requests now (Redis connected). Memory is always available. */
  abstract get available(): boolean;
  /** Called with the new availability whenever it changes. */
  abstract onAvailabilityChange(listener: (available: boolean) => void): void;

  /** Number of rooms this pod is subscribed to, and entries held in memory (for leak checks). */
  abstract stats(): BrokerStats;

  abstract close(): Promise<void>;
}

export type PublishedEvent = 'message' | 'notification';

export interface InboxReadResult {
  unread: number;
  /** The ids newly marked read, 'all' for a mark-all that changed something, null when nothing changed. */
  changed: string[] | 'all' | null;
}

export interface InboxOptions {
  inboxSize: number;
  inboxTtlDays: number;
}

/** Notifications to a personal room also land in that user's inbox. */
export function inboxUserOf(room: string, event: PublishedEvent): string | undefined {
  return event === 'notification' && room.startsWith(PERSONAL_ROOM_PREFIX) ? room.slice(PERSONAL_ROOM_PREFIX.length) : undefined;
}

/**
 * One page of an inbox, the same for every broker: `newestFirst` is the user's live items,
 * newest first; the page holds up to `limit` of those older than `before`, and `next` is the
 * cursor to the rest.
 */
export function inboxPage(newestFirst: readonly InboxItem[], limit: number, before: string | undefined): InboxPage {
  const older = before === undefined ? newestFirst : newestFirst.filter((item) => item.seq < before);
  const items = older.slice(0, limit);
  return { items, unread: unreadCount(newestFirst), next: older.length > limit ? items[items.length - 1].seq : null };
}

export function unreadCount(items: readonly Pick<InboxItem, 'read'>[]): number {
  return items.reduce((count, item) => count + (item.read ? 0 : 1), 0);
}

/** What a mark-read reports: `changed` null when nothing was newly read. */
export function inboxReadResult(unread: number, selection: string[] | 'all', marked: string[]): InboxReadResult {
  return { unread, changed: marked.length === 0 ? null : selection === 'all' ? 'all' : marked };
}

export interface PublishOptions {
  /** Idempotency key, per room: the same key in the same room inside the history window is delivered once. */
  dedupKey?: string;
  /** With dedupKey: what the request carried (see requestFingerprint), kept with the key. */
  fingerprint?: string;
}

/**
 * `duplicate`: the room already had the dedupKey, so nothing was stored or delivered;
 * `conflict` then says the key came with another fingerprint (another request reusing it).
 */
export type PublishResult = { duplicate: false; seq: string } | { duplicate: true; conflict: boolean };

export type PublishIdClaim = 'first' | 'repeat' | 'conflict';

/** What arrives at a pod: a ready-to-send frame, serialized once for every local member. */
export interface Delivery {
  room: string;
  frame: string;
  /** Set for publications; absent for ephemeral broadcasts. */
  seq?: string;
  publishedAtMs?: number;
  /** Presence events skip the connections of the user they are about. */
  excludeUser?: string;
}
export type DeliveryListener = (delivery: Delivery) => void;

export interface HistoryResult {
  /** The room's latest seq; null when the room has no history. */
  latestSeq: string | null;
  /** Only meaningful when `since` was given. */
  recovered: boolean;
  /** Publications after `since`, oldest first (empty when not recovered or no `since`). */
  publications: Delivery[];
}

export interface PresenceChange {
  /** For add: this was the user's first connection in the room; for remove: its last. */
  userChanged: boolean;
  /** Distinct users in the room after the change. */
  users: number;
}

export type PresenceExpiredListener = (room: string, user: string, users: number) => void;

export interface PresenceSnapshot {
  users: string[];
  connections: number;
}

export interface BrokerStats {
  subscribedRooms: number;
  presenceEntries: number;
  historyRooms: number;
  dedupKeys: number;
}

/** Thrown when the broker cannot be reached; turned into `unavailable` / 503 at the edges. */
export class BrokerUnavailableError extends Error {
  constructor(message = 'The message broker is unreachable') {
    super(message);
    this.name = 'BrokerUnavailableError';
  }
}
