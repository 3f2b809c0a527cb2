/**
 * Cases that mostly wait on a clock (a token's `exp`, a TTL, heartbeats), started together when
 * their describe starts, so those waits overlap instead of adding up. Call it in a describe and
 * give each case's test its function: `it('...', cases.expired)`. The test then passes or fails on
 * that case's assertions alone, within its own timeout; a case that fails before its test runs is
 * no unhandled rejection, its test reports it. The describe ends once every case has settled, so
 * none runs on past it when `-t` leaves its test out.
 */
export function startedTogether<Name extends string>(cases: Record<Name, () => Promise<void>>): Record<Name, () => Promise<void>> {
  const outcomes = new Map<Name, Promise<void>>();
  beforeAll(() => {
    for (const name of Object.keys(cases) as Name[]) {
      const outcome = cases[name]();
      outcome.catch(() => undefined);
      outcomes.set(name, outcome);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(outcomes.values());
  });
  const tests = {} as Record<Name, () => Promise<void>>;
  for (const name of Object.keys(cases) as Name[]) tests[name] = () => outcomes.get(name)!;
  return tests;
}
