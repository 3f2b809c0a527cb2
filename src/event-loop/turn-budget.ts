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

  /** Resolves once the event loop has gone round (I/O callbacks first: nextTurnInLine), with a new turn's budget. */
  async next(): Promise<void> {
    await nextTurnInLine();
    this.turnStartedMs = performance.now();
  }
}

/** Long pieces of work waiting to go on, oldest first (nextTurnInLine). */
const inLine: Array<() => void> = [];
let turnScheduled = false;

/**
 * Resolves in a later turn of the event loop, one waiter per turn, in the order they asked: each
 * turn, sockets are read and timers run before one step of one long piece of work goes on. With
 * setImmediate each, the steps of every request under way ran in one check phase, back to back:
 * 40 bodies of 1 MiB read at once held `/healthz` for up to 1.8 s, where one held it 20 ms.
 */
export function nextTurnInLine(): Promise<void> {
  return new Promise((resolve) => {
    inLine.push(resolve);
    if (!turnScheduled) scheduleTurn();
  });
}

function scheduleTurn(): void {
  turnScheduled = true;
  // An immediate set from within the check phase runs in the next turn, after its I/O.
  setImmediate(() => {
    turnScheduled = false;
    inLine.shift()?.();
    if (inLine.length > 0) scheduleTurn();
  });
}
