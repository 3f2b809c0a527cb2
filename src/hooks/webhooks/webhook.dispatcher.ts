import { Logger } from '@nestjs/common';
import { WebhookBatch } from '@herald/client/protocol';
import { WebhookSettings } from '../../config/herald.config';
import { HookClient } from '../hook.client';
import { describeHookError, requestDeadline, statusClass } from '../hook-request';
import { WebhookMetrics } from './webhook.metrics';
import { WebhookQueue } from './webhook.queue';
import { QueuedEvent } from './webhook-event';

/**
 * How long the delivery lease lasts unless its holder renews it. Short: a holder that died (a
 * crash, SIGKILL) hands over within about this, where a lease long enough to outlive a POST
 * (WEBHOOK_TIMEOUT_MS and more) held every pod's webhooks for that long. A live holder renews it
 * every quarter of it, during a POST too (post).
 */
const LEASE_MS = 2000;

/** Retries double from max(WEBHOOK_BATCH_MS, this) up to RETRY_MAX_DELAY_MS, with jitter. */
const RETRY_MIN_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 60_000;

/**
 * Sends the queue to WEBHOOK_URL. Only the pod holding the queue's lease sends, one batch at a
 * time from the head, so events arrive in the order they were queued; the others stand by
 * and take over when the lease expires (the holder died). A batch goes out once it is full
 * (WEBHOOK_BATCH_MAX) or its oldest event has waited about WEBHOOK_BATCH_MS. A failed POST
 * (non-2xx, timeout, network) is retried with backoff; events older than WEBHOOK_RETRY_S are
 * dropped and counted. Everything runs on this class's one timer, never on the caller's path.
 */
export class WebhookDispatcher {
  private readonly logger = new Logger(WebhookDispatcher.name);
  /** How often the holder looks at the queue: a few times per batch window. */
  private readonly pollMs: number;
  /** LEASE_MS, or four polls where WEBHOOK_BATCH_MS makes those longer: the holder looks at the queue well within it. */
  private readonly leaseMs: number;
  /** How often a pod without the lease tries to take it. */
  private readonly standbyMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private inFlight: AbortController | undefined;
  /** One connection: batches go one at a time. */
  private readonly receiver: HookClient;
  private attempt = 0;
  private nextAttemptAtMs = 0;
  private failingQueue = false;
  private closed = false;

  constructor(
    private readonly queue: WebhookQueue,
    private readonly settings: WebhookSettings,
    private readonly metrics: WebhookMetrics,
  ) {
    this.pollMs = Math.min(250, Math.max(10, Math.floor(settings.batchMs / 4)));
    this.leaseMs = Math.max(LEASE_MS, 4 * this.pollMs);
    this.standbyMs = Math.min(1000, Math.floor(this.leaseMs / 4));
    this.receiver = new HookClient(settings.url, settings.secret, 1);
  }

  start(): void {
    this.schedule(0);
  }

  /** Stops sending; an in-process queue gets one last attempt (its events die with the pod). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.inFlight?.abort();
    await this.running;
    try {
      if (!this.queue.durable) await this.lastAttempt();
    } finally {
      this.receiver.close();
    }
    await this.queue.release().catch((error: unknown) =>
      // The lease expires on its own; another pod takes over then.
      this.logger.debug({ message: 'Could not release the webhook lease', error: describeHookError(error) }),
    );
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .then(
          (nextMs) => this.schedule(nextMs),
          (error: unknown) => {
            // The queue's store is unreachable (Redis down): stand by and try again.
            if (!this.failingQueue) this.logger.warn({ message: 'Webhook queue unavailable', error: describeHookError(error) });
            this.failingQueue = true;
            this.schedule(this.standbyMs);
          },
        )
        .finally(() => (this.running = undefined));
    }, delayMs);
  }

  /** One look at the queue; resolves with when to look again. */
  private async tick(): Promise<number> {
    const lease = await this.queue.lease(this.leaseMs, this.settings.batchMax);
    this.failingQueue = false;
    if (!lease.held) {
      // Whoever holds it now starts its own backoff from scratch.
      this.attempt = 0;
      this.nextAttemptAtMs = 0;
      return this.standbyMs;
    }
    this.metrics.queueDepth.set(lease.depth);
    const now = lease.nowMs;
    const expired = lease.head.filter((queued) => now - queued.queuedAtMs > this.settings.retryS * 1000);
    if (expired.length > 0) {
      await this.queue.remove(expired.map((queued) => queued.id));
      this.metrics.dropped.inc({ reason: 'retry_window' }, expired.length);
      this.logger.warn({ message: 'Webhook events dropped after WEBHOOK_RETRY_S', count: expired.length, retryS: this.settings.retryS });
      // Newer events start afresh: waiting out the dropped batch's backoff (seconds, growing with
      // every failed attempt over the whole retry window) would hold them for nothing.
      this.attempt = 0;
      this.nextAttemptAtMs = 0;
      return 0;
    }
    const batch = lease.head;
    if (batch.length === 0) return this.pollMs;
    if (this.closed) return this.pollMs;
    // Backing off: keep the lease alive while waiting, so no other pod retries at once.
    if (now < this.nextAttemptAtMs) return Math.min(this.nextAttemptAtMs - now, Math.floor(this.leaseMs / 3));
    const waitMs = this.settings.batchMs - this.pollMs - (now - batch[0].queuedAtMs);
    if (this.attempt === 0 && batch.length < this.settings.batchMax && waitMs > 0) return Math.min(this.pollMs, waitMs);

    if (await this.post(batch)) {
      // A full queue may have dropped the head of this batch while it was out (the oldest go
      // first): remove skips those ids, so what came behind the batch stays queued, in order.
      // They count as dropped and as sent, as the receiver did get them.
      await this.queue.remove(batch.map((queued) => queued.id));
      this.metrics.sent.inc(batch.length);
      if (this.attempt > 0) this.logger.log({ message: 'Webhook delivery resumed', attempts: this.attempt + 1 });
      this.attempt = 0;
      this.nextAttemptAtMs = 0;
      return 0;
    }
    this.attempt++;
    this.metrics.retried.inc(batch.length);
    const delayMs = this.backoffMs(this.attempt);
    this.nextAttemptAtMs = now + delayMs;
    return Math.min(delayMs, Math.floor(this.leaseMs / 3));
  }

  /**
   * One POST of a batch, failing when not answered within `timeoutMs`; true on a 2xx. `last`:
   * the stopping pod's last attempt, which no retry follows.
   */
  private async post(batch: QueuedEvent[], { timeoutMs = this.settings.timeoutMs, last = false }: { timeoutMs?: number; last?: boolean } = {}): Promise<boolean> {
    const body = JSON.stringify({ events: batch.map((queued) => queued.event) } satisfies WebhookBatch);
    const controller = new AbortController();
    this.inFlight = controller;
    const stopTimer = this.metrics.requestSeconds.startTimer();
    // The lease is renewed while the receiver takes its time (up to WEBHOOK_TIMEOUT_MS), so no
    // standby pod sends the same batch meanwhile. A failed renewal changes nothing here: the
    // next tick finds whether the lease is still held.
    const renewal = setInterval(() => void this.queue.lease(this.leaseMs, 1).catch(() => undefined), Math.floor(this.leaseMs / 4));
    const deadline = requestDeadline(controller.signal, timeoutMs);
    try {
      const response = await this.receiver.post(body, deadline.signal);
      await response.discard();
      this.metrics.requests.inc({ outcome: statusClass(response.status) });
      if (!response.ok) this.logFailure({ status: response.status, events: batch.length }, last);
      return response.ok;
    } catch (error) {
      // By name, not instanceof: the error may come from another realm (test runners' VM contexts).
      const timedOut = (error as { name?: unknown } | null)?.name === 'TimeoutError';
      this.metrics.requests.inc({ outcome: timedOut ? 'timeout' : 'error' });
      if (!controller.signal.aborted) this.logFailure({ error: timedOut ? `no answer within ${timeoutMs} ms` : describeHookError(error), events: batch.length }, last);
      return false;
    } finally {
      deadline.end();
      clearInterval(renewal);
      stopTimer();
      this.inFlight = undefined;
    }
  }

  /**
   * One attempt per batch for what an in-process queue still holds, all within one request
   * timeout: each POST gets only what is left of it, so a receiver answering each batch just in
   * time cannot hold the stop for a timeout per batch. What is still queued when a POST fails or
   * the time is up is lost with the pod, and counted.
   */
  private async lastAttempt(): Promise<void> {
    const deadline = Date.now() + this.settings.timeoutMs;
    for (;;) {
      const lease = await this.queue.lease(this.leaseMs, this.settings.batchMax);
      if (!lease.held || lease.head.length === 0) return;
      const leftMs = deadline - Date.now();
      if (leftMs <= 0 || !(await this.post(lease.head, { timeoutMs: leftMs, last: true }))) {
        this.logger.warn({ message: 'Webhook events lost with this pod (no Redis to keep them)', count: lease.depth });
        this.metrics.dropped.inc({ reason: 'shutdown' }, lease.depth);
        return;
      }
      await this.queue.remove(lease.head.map((queued) => queued.id));
      this.metrics.sent.inc(lease.head.length);
    }
  }

  private logFailure(fields: Record<string, unknown>, last: boolean): void {
    const message = last ? 'Webhook POST failed in the last attempt of a stopping pod: not retried' : 'Webhook POST failed; retrying with backoff';
    const entry = { message, attempt: this.attempt + 1, ...fields };
    // The first failure of a run is worth a warning; the retries that follow are not, but the last one is.
    if (this.attempt === 0 || last) this.logger.warn(entry);
    else this.logger.debug(entry);
  }

  private backoffMs(attempt: number): number {
    const base = Math.max(RETRY_MIN_DELAY_MS, this.settings.batchMs);
    const ceiling = Math.min(RETRY_MAX_DELAY_MS, base * 2 ** Math.min(attempt - 1, 20));
    // Jitter in the upper half: receivers coming back are not hit by every retry at once.
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}
