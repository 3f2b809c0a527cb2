import { randomBytes } from 'node:crypto';
import { ActivityTracker, QueueOutcome } from './activity.tracker';
import { MemoryWebhookQueue } from './memory-webhook.queue';
import { ActivityKey, activityEvent } from './webhook-event';

/** One pod's counts, in process: the cluster is this pod. */
export class MemoryActivityTracker extends ActivityTracker {
  private readonly counts = new Map<ActivityKey, number>();
  private readonly idPrefix = `evt_${randomBytes(6).toString('base64url')}_`;
  private sequence = 0;
  private closed = false;

  constructor(
    private readonly queue: MemoryWebhookQueue,
    private readonly report: (outcome: QueueOutcome) => void,
  ) {
    super();
  }

  async start(): Promise<void> {
    // Nothing to reach.
  }

  change(key: ActivityKey, delta: 1 | -1): void {
    if (this.closed) return;
    const before = this.counts.get(key) ?? 0;
    const after = Math.max(0, before + delta);
    if (after === 0) this.counts.delete(key);
    else this.counts.set(key, after);
    if ((before === 0) !== (after === 0)) this.emit(key, after > 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const key of this.counts.keys()) this.emit(key, false);
    this.counts.clear();
    this.closed = true;
  }

  private emit(key: ActivityKey, up: boolean): void {
    const now = Date.now();
    const id = this.idPrefix + (++this.sequence).toString(36);
    const dropped = this.queue.enqueueNow([{ id, queuedAtMs: now, event: activityEvent(key, up, id, now) }]);
    this.report({ queued: 1, dropped });
  }
}
