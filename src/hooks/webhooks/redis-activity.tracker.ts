import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ActivityTracker, QueueOutcome } from './activity.tracker';
import { ActivityReply } from './hooks-redis.scripts';
import { HooksRedisStore } from './hooks-redis.store';
import { ActivityKey } from './webhook-event';

export interface RedisActivityOptions {
  podId: string;
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
 */
export class RedisActivityTracker extends ActivityTracker {
  private readonly logger = new Logger(RedisActivityTracker.name);
  private readonly counts = new Map<ActivityKey, number>();
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
    if (count === 0) this.counts.delete(key);
    else this.counts.set(key, count);
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
      this.reportReply(await this.store.client.hooksActivityLeave(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId));
    } catch (error) {
      // Another pod reaps this one once its entry expires (two heartbeats).
      this.logger.warn({ message: 'Could not hand over activity on close', error: String(error) });
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
    const counts = full ? [...this.counts] : this.pending;
    this.pending = [];
    this.needsFullSync = false;
    try {
      const reply = await this.store.client.hooksActivityApply(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId, this.options.podTtlMs, full, counts);
      if (!reply.registered) {
        this.logger.warn({ message: 'This pod was taken for dead; registering its connections again' });
        this.needsFullSync = true;
        this.pending = [];
        return;
      }
      this.reportReply(reply);
      if (this.failures > 0) this.logger.log({ message: 'Activity tracking resumed', failures: this.failures });
      this.failures = 0;
    } catch (error) {
      this.needsFullSync = true;
      this.pending = [];
      this.failures++;
      const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures, 10));
      const fields = { message: 'Activity update failed; a full sync follows', attempt: this.failures, delayMs, error: String(error) };
      if (this.failures === 1) this.logger.warn(fields);
      else this.logger.debug(fields);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.flushSoon();
      }, delayMs);
    }
  }

  /** Keeps this pod alive in Redis and reaps dead pods; an update in flight does both already. */
  private heartbeat(): void {
    if (this.flushing || this.needsFullSync || this.closed) return;
    this.store.client
      .hooksActivityHeartbeat(this.keys(), this.idPrefix(), this.options.queueMax, this.options.podId, this.options.podTtlMs)
      .then((reply) => {
        if (reply.registered) return this.reportReply(reply);
        this.logger.warn({ message: 'This pod was taken for dead; registering its connections again' });
        this.needsFullSync = true;
        this.pending = [];
        this.flushSoon();
      })
      .catch((error: unknown) =>
        // The next heartbeat tries again; an update failing meanwhile starts a full sync.
        this.logger.debug({ message: 'Activity heartbeat failed', error: String(error) }),
      );
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
