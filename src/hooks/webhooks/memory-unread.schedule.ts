import { UnreadSchedule } from './unread.schedule';
import { UnreadCheck } from './webhook-event';

/** Checks of a pod running alone, in due order (one delay for all, so appending keeps the order). */
export class MemoryUnreadSchedule extends UnreadSchedule {
  private due: { atMs: number; check: UnreadCheck }[] = [];

  constructor(private readonly max: number) {
    super();
  }

  async add(checks: UnreadCheck[], delayMs: number): Promise<number> {
    const atMs = Date.now() + delayMs;
    const room = Math.max(0, this.max - this.due.length);
    const entries = checks.slice(0, room).map((check) => ({ atMs, check }));
    // A retry's delay may differ from a first check's: insert in order rather than assume it.
    const last = this.due[this.due.length - 1];
    if (!last || last.atMs <= atMs) this.due.push(...entries);
    else this.due = [...this.due, ...entries].sort((a, b) => a.atMs - b.atMs);
    return checks.length - entries.length;
  }

  async claimDue(max: number): Promise<UnreadCheck[]> {
    const now = Date.now();
    let count = 0;
    while (count < this.due.length && count < max && this.due[count].atMs <= now) count++;
    return this.due.splice(0, count).map((entry) => entry.check);
  }

  async done(): Promise<void> {
    // Claimed checks already left the array.
  }
}
