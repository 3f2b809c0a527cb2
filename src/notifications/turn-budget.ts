/**
 * How long one stretch of publishing may hold the event loop. Every ping, `/healthz` and other
 * request of the pod waits behind whatever runs in one turn, and on the embedded broker a
 * publish never waits for I/O: a 1 MB batch (90 notifications to 1,000 users each) ran in one
 * turn of 1 to 2 seconds, long enough for a liveness probe to restart the pod. A few
 * milliseconds keeps other clients' waits short while a yield (about a microsecond when nothing
 * waits) costs nothing measurable against them.
 */
export const TURN_BUDGET_MS = 5;

/**
 * The share of the event loop a long piece of work has left in this turn: the work checks
 * `spent` between small steps and, once it is, awaits `next()`, which lets the loop read sockets
 * and run timers before the work goes on. Work that fits in the budget never waits.
 */
export class TurnBudget {
  private turnStartedMs = performance.now();

  constructor(private readonly budgetMs = TURN_BUDGET_MS) {}

  get spent(): boolean {
    return performance.now() - this.turnStartedMs >= this.budgetMs;
  }

  /** Resolves once the event loop has gone round (I/O callbacks first: setImmediate), with a new turn's budget. */
  async next(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.turnStartedMs = performance.now();
  }
}
