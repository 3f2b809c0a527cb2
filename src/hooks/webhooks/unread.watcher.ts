import { setImmediate as nextTurn } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { InboxStore } from '../../broker/inbox.store';
import { WebhookSettings } from '../../config/herald.config';
import { describeHookError } from '../hook-request';
import { QueueOutcome } from './activity.tracker';
import { UnreadSchedule } from './unread.schedule';
import { WebhookQueue } from './webhook.queue';
import { UnreadCheck, unreadEvent } from './webhook-event';

/** Checks claimed and handled per look. */
const CLAIM_MAX = 100;
/** A pod that claimed checks and died leaves them to come due again after this. */
const CLAIM_LEASE_MS = 30_000;
/** A check that could not be made (broker unreachable) is tried again after this. */
const RETRY_DELAY_MS = 5_000;

/**
 * notification.unread (section 8): every notification stored in a personal room is scheduled
 * for a check WEBHOOK_UNREAD_AFTER_S later; a check that finds it in the user's inbox and not
 * read queues the event. Scheduling appends to a buffer, written to the schedule at the end of
 * the turn with every other check of it; the publish is answered once that write has settled,
 * so a pod killed right after its 202 has left the check in the schedule (in Redis, for any
 * pod to make). A write that fails keeps its checks for the next, and answers the publish all
 * the same: the notification is stored. Due checks are handled on this class's own timer.
 */
export class UnreadWatcher {
  private readonly logger = new Logger(UnreadWatcher.name);
  private readonly delayMs: number;
  private readonly lookMs: number;
  private buffer: UnreadCheck[] = [];
  /** Who waits for the buffer's checks to be written (watch). */
  private waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private flushing: Promise<void> | undefined;
  private looking: Promise<void> | undefined;
  /** Looks that failed in a row: the first is logged, the rest only counted until one succeeds. */
  private failedLooks = 0;
  private closed = false;

  constructor(
    private readonly schedule: UnreadSchedule,
    private readonly queue: WebhookQueue,
    private readonly inbox: InboxStore,
    private readonly settings: WebhookSettings,
    private readonly report: (outcome: QueueOutcome) => void,
  ) {
    this.delayMs = settings.unreadAfterS * 1000;
    // Precise to about a tenth of the delay, and never busier than four looks a second.
    this.lookMs = Math.min(1000, Math.max(250, Math.floor(this.delayMs / 10)));
  }

  start(): void {
    this.timer = setInterval(() => this.look(), this.lookMs);
  }

  /** Remembers a stored notification for its check; resolves once the write that took it settled (never rejects). */
  watch(check: UnreadCheck): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.buffer.length >= this.settings.queueMax) {
      this.report({ queued: 0, dropped: 1 });
      return Promise.resolve();
    }
    this.buffer.push(check);
    this.flushImmediate ??= setImmediate(() => {
      this.flushImmediate = undefined;
      this.flush();
    });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flush();
    await Promise.all([this.flushing, this.looking]);
    for (const resolve of this.waiting.splice(0)) resolve();
    if (this.buffer.length > 0) this.logger.warn({ message: 'Unread checks not scheduled before shutdown', count: this.buffer.length });
  }

  private flush(): void {
    if (this.flushing || this.buffer.length === 0) return;
    const checks = this.buffer;
    const waiting = this.waiting;
    this.buffer = [];
    this.waiting = [];
    let failed = false;
    this.flushing = this.schedule
      .add(checks, this.delayMs)
      .then(
        (dropped) => {
          if (dropped > 0) this.report({ queued: 0, dropped });
        },
        (error: unknown) => {
          failed = true;
          // Kept for the next look, in front of anything scheduled since.
          this.buffer = [...checks, ...this.buffer].slice(0, this.settings.queueMax);
          this.logger.warn({ message: 'Could not schedule unread checks; retrying', count: checks.length, error: describeHookError(error) });
        },
      )
      .finally(() => {
        this.flushing = undefined;
        for (const resolve of waiting) resolve();
        // Checks that came during this write go now, not at the next look: their publishes wait.
        if (!failed && !this.closed) this.flush();
      });
  }

  private look(): void {
    this.flush();
    if (this.looking) return;
    let more = false;
    this.looking = this.checkDue()
      .then(
        (moreDue) => {
          if (this.failedLooks > 1) this.logger.log({ message: 'Unread checks work again', failedLooks: this.failedLooks });
          this.failedLooks = 0;
          more = moreDue;
        },
        (error: unknown) => {
          // Once per outage: a look runs up to four times a second.
          if (this.failedLooks++ === 0) this.logger.warn({ message: 'Unread checks failed; retrying (further failures are counted until one succeeds)', error: describeHookError(error) });
        },
      )
      .finally(() => {
        this.looking = undefined;
        if (more && !this.closed) this.look();
      });
  }

  /**
   * Makes the checks that are due, up to CLAIM_MAX; resolves with whether more are likely due: a
   * full claim made without a failure is looked past at once, not a look interval later (at
   * CLAIM_MAX a look, a publish to 10,000 users had its last reminders 25 s late). One with a
   * failure waits for the next look: the store is likely down.
   */
  private async checkDue(): Promise<boolean> {
    const due = await this.schedule.claimDue(CLAIM_MAX, CLAIM_LEASE_MS);
    if (due.length === 0) return false;
    const unread: UnreadCheck[] = [];
    const failed: UnreadCheck[] = [];
    for (const check of due) {
      // One check per turn of the event loop: an in-process inbox answers without one, and a look
      // makes up to CLAIM_MAX checks, each walking back through an inbox of up to INBOX_SIZE items.
      await nextTurn();
      if (this.closed) {
        failed.push(check);
        continue;
      }
      try {
        if (await this.isUnread(check)) unread.push(check);
      } catch (error) {
        failed.push(check);
        this.logger.debug({ message: 'Unread check failed', user: check.user, error: describeHookError(error) });
      }
    }
    try {
      const dropped = await this.queue.enqueue(unread.map(unreadEvent));
      this.report({ queued: unread.length, dropped });
      await this.schedule.done(due.filter((check) => !failed.includes(check)));
      if (failed.length > 0) await this.schedule.add(failed, RETRY_DELAY_MS);
    } catch (error) {
      // Claimed, and not settled: due again in RETRY_DELAY_MS rather than when the claim's lease
      // ends (CLAIM_LEASE_MS). A check whose event was queued may then raise it again (receivers
      // de-duplicate by id), as after the lease. Adding them may fail as the rest did: the lease is the fallback.
      await this.schedule.add(due, RETRY_DELAY_MS).catch(() => undefined);
      throw error;
    }
    return due.length === CLAIM_MAX && failed.length === 0;
  }

  /**
   * In the user's inbox and not marked read; a notification trimmed or expired from it is neither.
   * Found by id and seq: an id used again after the history window names another notification.
   * One look-up of that item (InboxStore.itemState): a read of a page, even of one item, also
   * counts the inbox's unread items, which on Redis went through every item of an inbox of up to
   * INBOX_SIZE (10,000) for each check: 33 to 105 ms of Redis time at that size, now under 0.1 ms.
   */
  private async isUnread({ user, notification }: UnreadCheck): Promise<boolean> {
    return (await this.inbox.itemState(user, notification)) === 'unread';
  }
}
