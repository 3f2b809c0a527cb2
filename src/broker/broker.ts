/**
 * The seam between one pod and the rest of the cluster for a room's messages: publish,
 * subscribe, history and availability (centrifuge's Broker). Presence (PresenceStore) and
 * inboxes (InboxStore) are seams of their own; an Engine (engine.ts) provides all three.
 *
 * Contract every implementation keeps (test/broker/broker.contract.ts runs against each):
 * - One delivery path: everything published, by this pod or any other, reaches this pod's
 *   delivery listener exactly once per subscribed room, and never for rooms it does not subscribe.
 *   What arrives is typed (a Publication, a Broadcast, a HistoryGap); the pod builds the client
 *   frame once, on the delivery side, never the engine.
 * - Order: every pod sees a room's publications in the same order, and `seq` increases along it.
 * - History: `history(room, since)` returns what followed `since`, and says `recovered: true`
 *   only when it can prove nothing is missing (same room epoch, inside HISTORY_SIZE / HISTORY_TTL_S).
 * - De-duplication: a publish carrying a `dedupKey` already seen in the same room inside the
 *   history window is reported as a duplicate and delivered to no one; with another
 *   `fingerprint` than the first it is also a conflict. Keys are per room, so a retry reaches
 *   exactly the rooms that missed the first attempt. `claimPublishId` binds an id to one
 *   fingerprint across all rooms, so a conflicting repeat can be refused before any room.
 * - Delivery is at most once: a pod that misses a publication (broker outage) recovers it
 *   through history, not through redelivery; when it cannot prove it missed nothing it
 *   delivers a HistoryGap for the room instead of staying silent.
 */
export abstract class Broker {
  /** Registers the single listener that receives every delivery for this pod's subscribed rooms. */
  abstract onDelivery(listener: DeliveryListener): void;

  /**
   * Appends to the room's history and delivers to every subscribed pod, in one atomic step;
   * with `inboxUser`, the same step also stores the publication in that user's inbox
   * (InboxStore reads it back).
   */
  abstract publish(room: string, event: PublishedEvent, body: Record<string, unknown>, options?: PublishOptions): Promise<PublishResult>;

  /**
   * Binds a publish id to its request's fingerprint for the history window, atomically across
   * pods: 'first' when the id was unseen (it is bound now), 'repeat' when it is bound to this
   * fingerprint, 'conflict' when to another. Claimed before publishing to any room, so a
   * conflicting repeat reaches none of them, not even a room the first request did not name.
   */
  abstract claimPublishId(id: string, fingerprint: string): Promise<PublishIdClaim>;

  /**
   * claimPublishId, with a promise that settles once the claim is as durable as the publishes it
   * guards, rejecting as a publish's replica wait does (ReplicasUnavailableError: 503, and the
   * notification may have been delivered all the same). Only a Redis Cluster waits here, where
   * the claim's slot is not its rooms': elsewhere each publish's own wait, on the connection the
   * claim was written on, covers the claim too.
   */
  async claimPublishIdDurably(id: string, fingerprint: string): Promise<DurableClaim> {
    return { claim: await this.claimPublishId(id, fingerprint), replicated: Promise.resolve() };
  }

  /**
   * Delivers an ephemeral frame (presence, inbox state) to the room on every pod, through the
   * same delivery path as publications; no history, no seq.
   */
  abstract broadcast(room: string, frame: string, excludeUser?: string): Promise<void>;

  /** Starts receiving the room's deliveries on this pod. Callers reference-count: see RefCountedSubscriptions. */
  abstract subscribe(room: string): Promise<void>;
  abstract unsubscribe(room: string): Promise<void>;

  /**
   * Subscribes in this turn when that needs no round trip (a personal room whose shared
   * channel this pod already receives; any room in process): true when done, false when the
   * caller must `subscribe`. Admission and joins then finish in the turn their frame arrived,
   * without a promise per step (ConnectionHub.enter).
   */
  subscribeNow(_room: string): boolean {
    return false;
  }

  /** The room's latest seq and, with `since`, the publications after it. */
  abstract history(room: string, since?: string): Promise<HistoryResult>;

  /**
   * What `history` would answer, when this pod knows it without a round trip and no delivery
   * for the room is still on its way here (one already sent would otherwise follow a `joined`
   * whose seq counts it); undefined when the caller must ask `history`. The caller is
   * subscribed to the room already.
   */
  historyNow(_room: string, _since?: string): HistoryResult | undefined {
    return undefined;
  }

  /** Whether the broker can serve requests now (Redis connected). Memory is always available. */
  abstract get available(): boolean;
  /** Called with the new availability whenever it changes. */
  abstract onAvailabilityChange(listener: (available: boolean) => void): void;

  /** Rooms this pod is subscribed to now (leak checks). */
  abstract get subscribedRooms(): number;
}

export type PublishedEvent = 'message' | 'notification';

export interface PublishOptions {
  /** Idempotency key, per room: the same key in the same room inside the history window is delivered once. */
  dedupKey?: string;
  /** With dedupKey: what the request carried (see requestFingerprint), kept with the key. */
  fingerprint?: string;
  /** Also store the publication in this user's inbox, in the same atomic step (section 6). */
  inboxUser?: string;
  /**
   * The body exactly as JSON.stringify writes it, when the caller has it already: a notification
   * to many rooms shares its serialized payload (NotificationBodies) instead of each room
   * serializing it again.
   */
  bodyJson?: string;
}

/**
 * `duplicate`: the room already had the dedupKey, so nothing was stored or delivered;
 * `conflict` then says the key came with another fingerprint (another request reusing it).
 */
export type PublishResult = { duplicate: false; seq: string } | { duplicate: true; conflict: boolean };

export type PublishIdClaim = 'first' | 'repeat' | 'conflict';

/** A publish id's claim, and when it is as durable as a publish (Broker.claimPublishIdDurably). */
export interface DurableClaim {
  claim: PublishIdClaim;
  /** Never left unhandled: a claim answered 409 never reads it. */
  replicated: Promise<void>;
}

/** One stored publication of a room, as every engine hands it over. */
export interface Publication {
  readonly kind: 'publication';
  readonly room: string;
  readonly seq: string;
  readonly event: PublishedEvent;
  /** The published body as JSON text, without `seq` (the frame puts it first). */
  readonly body: string;
  readonly publishedAtMs: number;
}

/** An ephemeral frame for a room's members (presence, inbox state), built once by the pod that sent it. */
export interface Broadcast {
  readonly kind: 'broadcast';
  readonly room: string;
  readonly frame: string;
  /**
   * Set on presence events only, whose subject it is: they skip the connections of the user
   * they are about (and ConnectionHub records what its members were told by it).
   */
  readonly excludeUser?: string;
}

/**
 * This pod cannot prove its members of `room` missed nothing (the engine lost the room's
 * history while it was away); they are told to recover from `latestSeq` (section 4).
 */
export interface HistoryGap {
  readonly kind: 'gap';
  readonly room: string;
  readonly latestSeq: string | null;
}

/** What arrives at a pod. */
export type Delivery = Publication | Broadcast | HistoryGap;
export type DeliveryListener = (delivery: Delivery) => void;

export interface HistoryResult {
  /** The room's latest seq; null when the room has no history. */
  latestSeq: string | null;
  /** Only meaningful when `since` was given. */
  recovered: boolean;
  /** Publications after `since`, oldest first (empty when not recovered or no `since`). */
  publications: Publication[];
  /**
   * The read saw publications this pod has not delivered to the room's members yet, and waiting
   * for them ran out (a failover: the pod's subscription has not moved to the new primary): they
   * will still arrive live, and a join that replayed them must not send them to its member twice.
   */
  aheadOfFeed?: true;
}

/**
 * What a client is told of an unreachable broker (`unavailable`): the error's own message names
 * Redis commands and replies, which are for the logs, not for browsers.
 */
export const BROKER_UNAVAILABLE_FOR_CLIENTS = 'The message broker is unreachable; try again later';

/** Thrown when the engine's store cannot be reached; turned into `unavailable` / 503 at the edges. */
export class BrokerUnavailableError extends Error {
  /** What the 503 tells a caller whose write may have been applied (mayHaveApplied): why it was not confirmed. */
  readonly unconfirmedBecause: string = 'Redis did not confirm it';

  /**
   * Whether the write may have been applied all the same (stored on a primary that then could
   * not replicate it in time): the answer must not tell the caller it was not stored.
   */
  readonly mayHaveApplied: boolean = false;

  /** Refused because fewer than REDIS_MIN_REPLICAS replicas acknowledged the write in time (herald_publishes_refused_replicas_total). */
  readonly forWantOfReplicas: boolean = false;

  constructor(message = 'The message broker is unreachable') {
    super(message);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * A call Redis may have received and run, whose answer never came: its deadline passed (Redis
 * frozen, stuck, a network dropping packets) or its connection was lost under it. Not
 * acknowledged (503, `unavailable`), yet a write may show up once Redis answers again: the 503
 * must not say it was not stored, and a publish retried with its id is delivered once.
 */
export class UnconfirmedCallError extends BrokerUnavailableError {
  override readonly mayHaveApplied = true;
  override readonly unconfirmedBecause = 'Redis did not answer in time';

  constructor(message: string) {
    super(message);
    this.name = 'UnconfirmedCallError';
  }
}
