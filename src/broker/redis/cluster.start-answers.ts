import { DeadlineExpiredError } from '../deadline';

/**
 * How long a start waits for the primaries that have not answered yet, once some have
 * (ClusterHealthCheck.loadScriptsAtStart). Each primary's connect may take what is left of the
 * start's budget, so a start on a busy machine is not failed for one slow handshake; but a
 * primary that is frozen (a stopped process, a paused VM: the kernel takes the connection and
 * nothing answers) then held the pod unready for the whole budget while every other primary had
 * answered at once, and its rooms are refused all the same until it answers. So once one primary
 * has answered, the others get `graceMs` (REDIS_COMMAND_TIMEOUT_MS, what the health check gives
 * a PING before it counts a primary silent) after the latest answer: on a busy machine answers
 * keep coming, and each gives the rest that long again. Until the first answer, only the
 * budget bounds the wait.
 */
export class StartAnswers {
  /** Rejects a connect still waited for, once the grace after the latest answer is over. */
  private readonly waiting = new Set<(error: Error) => void>();
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly graceMs: number) {}

  /**
   * `connect`, a primary's first one: rejected with DeadlineExpiredError after `timeoutMs`, or
   * once `graceMs` passed since another primary's connect resolved. No timer outlives it.
   */
  connect<T>(connect: Promise<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const budgetTimer = setTimeout(() => giveUp(new DeadlineExpiredError('connect', timeoutMs)), timeoutMs);
      const settle = () => {
        clearTimeout(budgetTimer);
        this.waiting.delete(giveUp);
        if (this.waiting.size === 0) clearTimeout(this.graceTimer);
      };
      const giveUp = (error: Error) => {
        settle();
        reject(error);
      };
      this.waiting.add(giveUp);
      connect.then(
        (client) => {
          settle();
          this.answered();
          resolve(client);
        },
        // Once given up, this settles nothing, but still handles the late rejection.
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /** A primary answered: the ones still waited for get `graceMs` from now. */
  private answered(): void {
    clearTimeout(this.graceTimer);
    if (this.waiting.size === 0) return;
    this.graceTimer = setTimeout(() => {
      const error = new Error(`no answer within ${this.graceMs} ms (REDIS_COMMAND_TIMEOUT_MS) of another primary's at start`);
      for (const giveUp of [...this.waiting]) giveUp(error);
    }, this.graceMs);
  }
}
