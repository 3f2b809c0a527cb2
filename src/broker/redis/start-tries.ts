import { ClosedWhileStartingError } from './redis.connection';

/** How a start tries one of its steps again (StartTries.run). */
export interface StartTryOptions {
  /** The pause before the next try, after try `attempt` (1 first) failed. */
  pauseMs(attempt: number): number;
  /** A failure no later try can mend (a deadline passed, a close): thrown at once. */
  isFinal?(error: unknown): boolean;
  /** Told of each failure that is tried again (a log line). */
  onRetry(attempt: number, error: unknown): void;
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

  close(): void {
    this.closed = true;
    this.endPause?.();
  }

  async run<T>(step: () => Promise<T>, options: StartTryOptions): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (this.closed) throw new ClosedWhileStartingError();
        if (attempt >= this.attempts || options.isFinal?.(error)) throw error;
        options.onRetry(attempt, error);
        await this.pause(options.pauseMs(attempt));
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
