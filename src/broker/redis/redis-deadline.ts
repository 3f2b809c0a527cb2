import { DeadlineExpiredError } from '../deadline';

/**
 * When Redis counts as too slow: when it has answered nothing for `deadlineMs` while commands
 * are outstanding on one connection, not when one command has waited `deadlineMs`.
 *
 * Replies on a connection come back in order, so any reply proves the ones before it are
 * coming. A per-command timer cannot tell "Redis is stuck" from "our own event loop is busy":
 * a burst of admissions on a loaded machine queues thousands of commands, Redis answers each
 * in well under a millisecond, and still the last ones time out because the replies wait in
 * the socket while the loop works through the earlier ones. A healthy Redis must never fail
 * an admission like that.
 */
export class RedisDeadline {
  /** What waits, each with the operation it fails as. */
  private readonly pending = new Map<(error: Error) => void, string>();
  private lastProgressMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deadlineMs: number) {}

  /** Settles as `command` does, or rejects with DeadlineExpiredError(operation) when the connection goes silent. */
  track<T>(command: Promise<T>, operation: string): Promise<T> {
    if (this.pending.size === 0) {
      this.lastProgressMs = Date.now();
      // Nor is our own synchronous work: a burst queueing thousands of commands is written only
      // when it ends, so the silence counts from then. Only after an idle connection: with
      // commands already waiting, new ones must not push the deadline of a dead Redis away.
      setImmediate(() => {
        if (this.pending.size > 0) this.lastProgressMs = Math.max(this.lastProgressMs, Date.now());
      });
    }
    return new Promise<T>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      this.pending.set(fail, operation);
      this.arm();
      command.then(
        (value) => {
          this.settled(fail);
          resolve(value);
        },
        (error: unknown) => {
          this.settled(fail);
          reject(error);
        },
      );
    });
  }

  /** Rejects everything outstanding, each as its own operation, and stops the timer. */
  private expire(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = [...this.pending];
    this.pending.clear();
    for (const [fail, operation] of pending) fail(new DeadlineExpiredError(operation, this.deadlineMs));
  }

  private settled(fail: (error: Error) => void): void {
    // A reply after the deadline fired still counts as progress for the commands behind it.
    this.pending.delete(fail);
    this.lastProgressMs = Date.now();
    if (this.pending.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private arm(): void {
    if (this.timer) return;
    const dueInMs = Math.max(1, this.lastProgressMs + this.deadlineMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // After a busy stretch this timer runs before the loop reads the replies waiting in the
      // socket: let the poll phase read them first (setImmediate runs after it), then judge.
      setImmediate(() => this.check());
    }, dueInMs);
    this.timer.unref();
  }

  private check(): void {
    if (this.pending.size === 0) return;
    if (Date.now() - this.lastProgressMs < this.deadlineMs) return this.arm();
    this.expire();
  }
}
