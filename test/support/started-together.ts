/**
 * Cases that mostly wait on a clock (a token's `exp`, a TTL, heartbeats), started together when
 * their describe starts, so those waits overlap instead of adding up. Call it in a describe of
 * their own and give each case's test its function: `it('...', cases.expired)`. The test then
 * passes or fails on that case's assertions alone, within its own timeout; a case that fails
 * before its test runs is no unhandled rejection, its test reports it.
 *
 * The describe ends once every case has settled, also when `-t` leaves a test out (its case
 * still runs: they all start together) or a test timed out. A describe of their own matters:
 * Jest runs a describe's afterAll hooks in the order they were declared, so hooks declared
 * beside this one (a broker's, an app's close) would run while cases are still under way.
 */
export function startedTogether<Name extends string>(cases: Record<Name, () => Promise<void>>, settleWithinMs = 25_000): Record<Name, () => Promise<void>> {
  const outcomes = new Map<Name, Promise<void>>();
  beforeAll(() => {
    for (const name of Object.keys(cases) as Name[]) {
      const outcome = cases[name]();
      outcome.catch(() => undefined);
      outcomes.set(name, outcome);
    }
  });
  afterAll(async () => {
    // Within the hook's own timeout (testTimeout, 30 s), to name the cases that hang.
    const unsettled = new Set(outcomes.keys());
    for (const [name, outcome] of outcomes) void outcome.finally(() => unsettled.delete(name)).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), settleWithinMs)));
    const settled = await Promise.race([Promise.allSettled(outcomes.values()), timedOut]);
    clearTimeout(timer);
    if (settled === 'timed out') throw new Error(`Cases still running ${settleWithinMs} ms after their describe ended: ${[...unsettled].join(', ')}`);
  });
  const tests = {} as Record<Name, () => Promise<void>>;
  for (const name of Object.keys(cases) as Name[]) tests[name] = () => outcomes.get(name)!;
  return tests;
}
