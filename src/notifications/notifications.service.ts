import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Notification } from '@herald/client/protocol';
import { Broker, BrokerUnavailableError, PublishResult } from '../broker/broker';
import { inboxRecipientOf } from '../inbox/inbox-recipient';
import { MetricsService } from '../metrics/metrics.service';
import { notificationFingerprint } from './notification-fingerprint';
import { NotificationBodies } from './notification-bodies';
import { PublishConflictError } from './publish-conflict.error';
import { TurnBudget } from '../event-loop/turn-budget';
import { targetRooms } from './notification-targets';

export interface NotificationInput {
  rooms?: string[];
  users?: string[];
  type: string;
  payload: Record<string, unknown>;
  /**
   * Idempotency key: the same id with the same body inside the history window is delivered
   * once per room; with another body it is refused (PublishConflictError) and delivers nothing.
   */
  id?: string;
}

export interface PublishedNotification {
  id: string;
  /** Distinct target rooms. */
  targets: number;
}

/** One notification stored in one room (a repeat of an `id` is not one). */
export interface StoredNotification {
  room: string;
  id: string;
  seq: string;
  type: string;
}

/** A notification whose id is claimed, ready to be handed to the broker room by room. */
export interface ClaimedNotification {
  id: string;
  /** Distinct target rooms. */
  rooms: string[];
  type: string;
  payload: Record<string, unknown>;
  /** Only for a caller's id. */
  dedup: { dedupKey: string; fingerprint: string } | undefined;
  /** Settles once the id's claim is as durable as the notification's publishes (Broker.claimPublishIdDurably). */
  claimReplicated: Promise<void> | undefined;
}

/** A notification every target room has been handed; `stored` settles once each stored it. */
export interface HandedNotification {
  stored: Promise<PublishedNotification>;
}

/** Publishes notifications to rooms and users; usable from any module, not only HTTP. */
@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);
  private storedListener: StoredListener | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Resolves once every target room has stored the notification (or already had it); rejects
   * with BrokerUnavailableError when the broker is unreachable (HTTP answers 503), and with
   * PublishConflictError when the id was used with another body (HTTP answers 409).
   */
  async publish(input: NotificationInput): Promise<PublishedNotification> {
    const handed = await this.hand(await this.claim(input), new TurnBudget());
    return handed.stored;
  }

  /**
   * The first step of a publish: binds a caller's id to this notification's content, before any
   * room, so that a conflicting repeat reaches none, not even a new target. Rejects with
   * PublishConflictError when the id is bound to another body. Claims of several notifications
   * may be in flight at once (a batch sends them together); hand() then follows request order
   * within each room. `rooms`: the input's targetRooms, when the caller has them already.
   */
  async claim(input: NotificationInput, rooms = targetRooms(input)): Promise<ClaimedNotification> {
    // A generated id never repeats: only a caller's id needs de-duplication records.
    const dedup = input.id === undefined ? undefined : { dedupKey: input.id, fingerprint: notificationFingerprint(rooms, input.type, input.payload) };
    let claimReplicated: Promise<void> | undefined;
    if (dedup) {
      const { claim, replicated } = await this.broker.claimPublishIdDurably(dedup.dedupKey, dedup.fingerprint).catch(this.countUnavailable);
      if (claim === 'conflict') throw new PublishConflictError(dedup.dedupKey);
      claimReplicated = replicated;
    }
    return { id: input.id ?? randomUUID(), rooms, type: input.type, payload: input.payload, dedup, claimReplicated };
  }

  /** Counts `count` notifications answered 503 before any was tried (a batch while the broker is down). */
  countNotStored(count: number): void {
    this.metrics.publishesUnavailable.inc({ outcome: 'not_stored' }, count);
  }

  /**
   * Counts a notification answered 503 (herald_publishes_unavailable_total, and
   * herald_publishes_refused_replicas_total when replicas were wanting), and rethrows: once per
   * notification, however many Redis writes it took (its id's claim and its rooms' publishes on
   * a Cluster) or shared (one write carries the publishes of a turn to one shard).
   */
  private readonly countUnavailable = (error: unknown): never => {
    if (error instanceof BrokerUnavailableError) {
      this.metrics.publishesUnavailable.inc({ outcome: error.mayHaveApplied ? 'unconfirmed' : 'not_stored' });
      if (error.forWantOfReplicas) this.metrics.publishesRefusedForReplicas.inc();
    }
    throw error;
  };

  /**
   * The second step: hands the notification to the broker for each target room, in slices that
   * each fit in `turn` (other clients are served between them), and resolves once the last room
   * has been handed over, so that a publish handed later is stored after this one in every room
   * they share. Never rejects: `stored` settles as publish() does, once every room has stored
   * it or one has failed.
   */
  async hand(claimed: ClaimedNotification, turn: TurnBudget): Promise<HandedNotification> {
    const { id, rooms, type, payload, dedup } = claimed;
    const timestamp = new Date().toISOString();
    const bodies = new NotificationBodies(id, type, payload, timestamp);
    const publishes: Promise<PublishResult>[] = [];
    for (const room of rooms) {
      if (turn.spent) {
        // Promise.all below reports a room that fails while this waits; marking them handled
        // now keeps Node from taking such a rejection for an unhandled one meanwhile.
        Promise.all(publishes).catch(() => undefined);
        await turn.next();
      }
      const body: Omit<Notification, 'seq'> = { id, room, type, payload, timestamp };
      // Dedup keys are per room (Broker contract), so a retry fills in exactly the rooms that missed it.
      publishes.push(this.broker.publish(room, 'notification', body, { dedupKey: dedup?.dedupKey, fingerprint: dedup?.fingerprint, inboxUser: inboxRecipientOf(room), bodyJson: bodies.of(room) }));
    }
    // What the rooms stored is recorded (and told) whatever the claim's wait says: a 503 for the
    // claim's replicas alone may have been delivered, and its retry is a duplicate no one is told of.
    const recorded = Promise.all(publishes).then((results) => this.recordStored(claimed, results));
    // Acknowledged once the claim is as durable as the publishes (on a Cluster it waits for replicas of its own).
    return { stored: Promise.all([recorded, claimed.claimReplicated]).then(([published]) => published, this.countUnavailable) };
  }

  /**
   * The one listener told of every notification stored (backend hooks). What it returns, if
   * anything, the publish waits for before it is answered (an unread check written where a pod
   * killed right after the 202 cannot lose it); it must never reject.
   */
  onStored(listener: StoredListener): void {
    this.storedListener = listener;
  }

  private async recordStored({ id, rooms, type }: ClaimedNotification, results: PublishResult[]): Promise<PublishedNotification> {
    this.metrics.notificationsPublished.inc(results.filter((result) => !result.duplicate).length);
    const told = this.storedListener ? this.tellStored(rooms, results, id, type) : undefined;
    if (told) await told;
    // Only when a room's record outlived the id's claim (the window's very edge): refused all the same.
    if (results.some((result) => result.duplicate && result.conflict)) throw new PublishConflictError(id);
    return { id, targets: rooms.length };
  }

  /** Tells the listener of each room that stored the notification; a promise when any answer is awaited. */
  private tellStored(rooms: string[], results: PublishResult[], id: string, type: string): Promise<unknown> | undefined {
    let awaited: Promise<void>[] | undefined;
    results.forEach((result, index) => {
      if (result.duplicate) return;
      try {
        const answer = this.storedListener!({ room: rooms[index], id, seq: result.seq, type });
        if (answer) (awaited ??= []).push(answer);
      } catch (error) {
        this.logger.error({ message: 'Stored-notification listener failed', room: rooms[index], error: String(error) });
      }
    });
    return awaited && Promise.all(awaited);
  }
}

/** Told of each notification stored; a promise it returns is awaited before the publish is answered. */
type StoredListener = (stored: StoredNotification) => Promise<void> | undefined | void;
