import { DeadlineExpiredError, withDeadline } from '../deadline';
import { ClosedWhileStartingError } from './redis.connection';

/** How a start tries one of its steps again (StartTries.run). */
export interface StartTryOptions {
  /** The pause before the next try, after try `attempt` (1 first) failed. */
  pauseMs(attempt: number): number;
  /** A failure no later try can mend: thrown at once (as are a close and the end of `within`). */
  isFinal?(error: unknown): boolean;
  /** Told of each failure that is tried again (a log line). */
  onRetry(attempt: number, error: unknown): void;
  /**
   * Every try and pause together end within `ms` of the first try: a try is cut at what is left
   * (DeadlineExpiredError naming `what` and `ms`, tried no more) and a pause never runs past it.
   */
  within?: { ms: number; what: string };
}

/**
 * The tries of one start-up step (a connect, a discovery, a resync, a look for the primary): up to
 * `attempts`, pausing between them as a reconnect does, so a start on a busy node (a connect whose
 * timer fired while the event loop was busy) or during a Redis restart is not failed by one miss.
 * close() ends the pause under way at once and no try follows: the start then fails with
 * ClosedWhileStartingError.
 */
export class StartTries {
  private closed = false;
  private endPause: (() => void) | undefined;

  constructor(private readonly attempts: number) {}

  /** The time every try takes at most `tryMs` and every pause at most `pauseMs` add up to: a start's budget. */
  budgetMs(tryMs: number, pauseMs: number): number {
    return this.attempts * (tryMs + pauseMs);
  }

  close(): void {
    this.closed = true;
    this.endPause?.();
  }

  async run<T>(step: () => Promise<T>, options: StartTryOptions): Promise<T> {
    const { within } = options;
    const deadline = within && Date.now() + within.ms;
    const leftMs = () => (deadline === undefined ? Infinity : Math.max(0, deadline - Date.now()));
    let spent: DeadlineExpiredError | undefined;
    const budgetSpent = () => (spent = new DeadlineExpiredError(within!.what, within!.ms));
    for (let attempt = 1; ; attempt++) {
      try {
        return await (within ? withDeadline(step(), leftMs(), budgetSpent) : step());
      } catch (error) {
        // A step that found its connection closed reports it so; either way no try follows.
        if (this.closed || error instanceof ClosedWhileStartingError) throw new ClosedWhileStartingError();
        if (attempt >= this.attempts || error === spent || options.isFinal?.(error)) throw error;
        options.onRetry(attempt, error);
        await this.pause(Math.min(options.pauseMs(attempt), leftMs()));
        if (this.closed) throw new ClosedWhileStartingError();
      }
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resume) => {
      const timer = setTimeout(() => {
        this.endPause = undefined;
        resume();
      }, ms);
      this.endPause = () => {
        clearTimeout(timer);
        this.endPause = undefined;
        resume();
      };
    });
  }
}
