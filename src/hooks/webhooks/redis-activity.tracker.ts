import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { describeHookError } from '../hook-request';
import { ActivityTracker, QueueOutcome } from './activity.tracker';
import { ActivityReply } from './hooks-redis.scripts';
import { HooksRedisStore } from './hooks-redis.store';
import { ActivityKey } from './webhook-event';

export interface RedisActivityOptions {
  podId: string;
  /** WEBHOOK_QUEUE_MAX; also bounds the downs kept for a Redis that lost its data. */
  queueMax: number;
  /** A pod not refreshed for this long is dead: its users go offline (two heartbeats, as presence). */
  podTtlMs: number;
  /** How often this pod refreshes itself and looks for dead pods; well under podTtlMs. */
  refreshMs: number;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * This pod's counts, mirrored into Redis where the cluster-wide totals live. Changes are sent
 * as this pod's absolute counts, in order, one script call at a time (changes made meanwhile
 * ride on the next call), so the hot path never waits for Redis. After any failure, or when
 * this pod finds it was reaped, the next call is a full sync of every count, which settles
 * the totals whatever the failed call did or did not apply.
 *
 * A failover can also lose this pod's last updates without telling it: the old primary took
 * them after its replica had been promoted (a planned Sentinel switch, a primary paused past its
 * failover), so they succeeded here. Each update leaves its mark in Redis and names the one
 * before it; an update or heartbeat that finds another one there (the promoted replica's) starts
 * a full sync, which raises the ups and downs those updates had carried (a user who left
 * meanwhile would otherwise stay online for good, as later updates do not carry that user).
 * A user who came and went within the lost updates is counted nowhere, though the old primary
 * may have delivered their `user.online`: so the downs Redis acknowledged within the last pod
 * TTL are kept (recentDowns) and sent with that full sync, which raises them for keys no pod counts.
 *
 * A full sync cannot settle what Redis forgot: after a restart that lost its data, a user who
 * left this pod during the outage is counted nowhere, so no count goes down and no one was
 * ever told `user.offline`. So every key that goes to zero here is kept until a call that
 * carried that zero succeeds (during an outage: until Redis is back), and the full sync sends
 * them along; the script raises the downs Redis lost, for keys no pod counts again.
 */
export class RedisActivityTracker extends ActivityTracker {
  private readonly logger = new Logger(RedisActivityTracker.name);
  private readonly counts = new Map<ActivityKey, number>();
  /**
   * Keys that went to zero here and no successful call has carried since, oldest first, each
   * with the change that zeroed it (a key that comes back and goes again is a new down). At
   * most queueMax: more downs could not be queued anyway.
   */
  private readonly unacknowledgedDowns = new Map<ActivityKey, number>();
  /** Keys whose down Redis acknowledged within the last pod TTL, oldest first, with when (at most queueMax). */
  private readonly recentDowns = new Map<ActivityKey, number>();
  /** Set when Redis lost this pod's updates: the next full sync sends recentDowns too. */
  private resendRecentDowns = false;
  private changeNumber = 0;
  /** Set while downs are being dropped, so a long outage logs it once. */
  private droppingDowns = false;
  /** The id of the data Redis held at the last full sync; another one means Redis lost it. */
  private dataset = '';
  /** How many updates this pod sent; each one's number is its mark in Redis. */
  private updates = 0;
  /** The mark of this pod's last update that succeeded ('' before the first). */
  private appliedMark = '';
  private pending: [ActivityKey, number][] = [];
  private needsFullSync = true;
  private flushing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly store: HooksRedisStore,
    private readonly options: RedisActivityOptions,
    private readonly report: (outcome: QueueOutcome) => void,
  ) {
    super();
  }

  async start(): Promise<void> {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.refreshMs);
    this.flushSoon();
    await this.flushing;
  }

  change(key: ActivityKey, delta: 1 | -1): void {
    if (this.closed) return;
    const count = Math.max(0, (this.counts.get(key) ?? 0) + delta);
    if (count === 0) {
      this.counts.delete(key);
      this.rememberDown(key);
    } else {
      this.counts.set(key, count);
      this.unacknowledgedDowns.delete(key);
      this.recentDowns.delete(key);
    }
    // A full sync is due anyway and carries every count.
    if (!this.needsFullSync) this.pending.push([key, count]);
    this.flushSoon();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.retryTimer);
    await this.flushing;
    try {
      this.reportReply(await this.store.client.hooksActivityLeave(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId, this.options.podTtlMs));
    } catch (error) {
      // Another pod reaps this one once its entry expires (two heartbeats).
      this.logger.warn({ message: 'Could not hand over activity on close', error: describeHookError(error) });
    }
  }

  private flushSoon(): void {
    if (this.flushing || this.retryTimer || this.closed) return;
    if (!this.needsFullSync && this.pending.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      this.flushSoon();
    });
  }

  private async flush(): Promise<void> {
    const full = this.needsFullSync;
    const lostUpdates = full && this.resendRecentDowns;
    this.forgetOldDowns();
    const resentDowns = lostUpdates ? [...this.recentDowns.keys()].filter((key) => !this.unacknowledgedDowns.has(key)) : [];
    // Downs first: they happened before the counts this pod holds now.
    const counts: [ActivityKey, number][] = full ? [...[...resentDowns, ...this.unacknowledgedDowns.keys()].map(zeroCount), ...this.counts] : this.pending;
    // Which zeroing each carried down is: one that comes back and goes again meanwhile stays kept.
    const carriedDowns = counts.filter(([, count]) => count === 0).map(([key]) => [key, this.unacknowledgedDowns.get(key)] as const);
    this.pending = [];
    this.needsFullSync = false;
    try {
      const dataset = { known: this.dataset, fresh: randomBytes(9).toString('base64url') };
      const mark = String(++this.updates);
      const reply = await this.store.client.hooksActivityApply(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId, this.options.podTtlMs, full, dataset, { mark, follows: this.appliedMark, lostUpdates }, counts);
      if (!reply.registered || reply.lostUpdates) {
        this.logger.warn({ message: reply.registered ? LOST_UPDATES : 'This pod was taken for dead; registering its connections again' });
        this.needsFullSync = true;
        this.resendRecentDowns ||= reply.lostUpdates === true;
        this.pending = [];
        return;
      }
      if (lostUpdates) this.resendRecentDowns = false;
      if (reply.dataset !== undefined) {
        if (this.dataset !== '' && reply.dataset !== this.dataset) this.logger.warn({ message: 'Redis lost the webhook counts: this pod registered its counts again, with the downs it saw meanwhile', downs: carriedDowns.length });
        this.dataset = reply.dataset;
      }
      this.appliedMark = mark;
      const now = Date.now();
      for (const [key, change] of carriedDowns) {
        if (this.unacknowledgedDowns.get(key) === change) this.unacknowledgedDowns.delete(key);
        // A key resent from recentDowns keeps its time: it is forgotten a pod TTL after its own down.
        if (!this.counts.has(key) && !this.recentDowns.has(key)) this.rememberRecentDown(key, now);
      }
      this.droppingDowns = false;
      this.reportReply(reply);
      if (this.failures > 0) this.logger.log({ message: 'Activity tracking resumed', failures: this.failures });
      this.failures = 0;
    } catch (error) {
      this.needsFullSync = true;
      this.pending = [];
      this.failures++;
      const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures, 10));
      const fields = { message: 'Activity update failed; a full sync follows', attempt: this.failures, delayMs, error: describeHookError(error) };
      if (this.failures === 1) this.logger.warn(fields);
      else this.logger.debug(fields);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.flushSoon();
      }, delayMs);
    }
  }

  /**
   * Keeps this pod alive in Redis and reaps dead pods; an update in flight does both already.
   * Also checks that Redis still holds this pod's last update (its mark): see the class.
   */
  private heartbeat(): void {
    if (this.flushing || this.needsFullSync || this.closed) return;
    const expectedMark = this.appliedMark;
    this.store.client
      .hooksActivityHeartbeat(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId, this.options.podTtlMs)
      .then((reply) => {
        if (!reply.registered) {
          this.logger.warn({ message: 'This pod was taken for dead; registering its connections again' });
        } else {
          this.reportReply(reply);
          // An update sent after this heartbeat has its own mark: only a mark that should be there counts.
          if (reply.mark === expectedMark || this.appliedMark !== expectedMark || this.needsFullSync) return;
          this.logger.warn({ message: LOST_UPDATES });
          this.resendRecentDowns = true;
        }
        this.needsFullSync = true;
        this.pending = [];
        this.flushSoon();
      })
      .catch((error: unknown) =>
        // The next heartbeat tries again; an update failing meanwhile starts a full sync.
        this.logger.debug({ message: 'Activity heartbeat failed', error: describeHookError(error) }),
      );
  }

  private rememberDown(key: ActivityKey): void {
    this.unacknowledgedDowns.delete(key);
    this.unacknowledgedDowns.set(key, ++this.changeNumber);
    if (this.unacknowledgedDowns.size <= this.options.queueMax) return;
    this.unacknowledgedDowns.delete(this.unacknowledgedDowns.keys().next().value!);
    if (!this.droppingDowns) this.logger.warn({ message: 'Too many downs while Redis does not answer (WEBHOOK_QUEUE_MAX): forgetting the oldest', queueMax: this.options.queueMax });
    this.droppingDowns = true;
    this.report({ queued: 0, dropped: 1 });
  }

  private rememberRecentDown(key: ActivityKey, now: number): void {
    this.recentDowns.set(key, now);
    if (this.recentDowns.size > this.options.queueMax) this.recentDowns.delete(this.recentDowns.keys().next().value!);
  }

  /** Drops the recent downs older than a pod TTL: a failover that lost them has been noticed by then. */
  private forgetOldDowns(): void {
    const oldest = Date.now() - this.options.podTtlMs;
    for (const [key, at] of this.recentDowns) {
      if (at >= oldest) break;
      this.recentDowns.delete(key);
    }
  }

  private reportReply(reply: ActivityReply): void {
    if (reply.queued > 0 || reply.dropped > 0) this.report({ queued: reply.queued, dropped: reply.dropped });
  }

  private keys() {
    return this.store.activityKeys(this.options.podId);
  }

  /** Unique per call: the script numbers the events it raises after it. */
  private idPrefix(): string {
    return `evt_${randomBytes(9).toString('base64url')}_`;
  }
}

const LOST_UPDATES = "Redis lost this pod's last activity updates (a failover); sending every count again";

const zeroCount = (key: ActivityKey): [ActivityKey, number] => [key, 0];
