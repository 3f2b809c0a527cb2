import fc from 'fast-check';

/**
 * The one place the property tests read their settings from the environment:
 * - FUZZ_RUNS: runs per property. Unset, each property runs its own small count, so `npm test`
 *   stays quick; `npm run fuzz` sets it to 2000.
 * - FUZZ_SEED and FUZZ_PATH: replay a failure. fast-check prints both when a property fails
 *   (`{ seed: 123, path: "4:1" }`); run the one failing test again with them set.
 */
function integerSetting(name: string, min: number): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min) throw new Error(`${name} must be an integer of at least ${min}, got "${value}"`);
  return Number(value);
}

const configuredRuns = integerSetting('FUZZ_RUNS', 1);
// fast-check seeds are 32-bit integers, negative ones included.
const seed = integerSetting('FUZZ_SEED', -(2 ** 31));
const path = process.env.FUZZ_PATH || undefined;

/** Runs per property: FUZZ_RUNS when set, else the property's own default. */
export function fuzzRuns(defaultRuns: number): number {
  return configuredRuns ?? defaultRuns;
}

/**
 * fc.assert parameters. `stateful` properties talk to one live server whose state carries over
 * from run to run, so a failure is reported as found (seed and path replay it) instead of being
 * shrunk against a server that has moved on.
 */
export function fuzzParameters<T>(defaultRuns: number, { stateful = false }: { stateful?: boolean } = {}): fc.Parameters<T> {
  return {
    numRuns: fuzzRuns(defaultRuns),
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path }),
    ...(stateful ? { endOnFailure: true } : {}),
  };
}

/** A Jest timeout for a property of `defaultRuns` runs, each taking at most `msPerRun`. */
export function fuzzTimeoutMs(defaultRuns: number, msPerRun: number): number {
  return 30_000 + fuzzRuns(defaultRuns) * msPerRun;
}

/**
 * Settings every fuzz test's app starts with. Its clients live in this process, so a stall of
 * the test process (a busy CI machine: one run of the suite saw the HTTP fuzz's target closed
 * 1006 before any publish reached it) silences their pongs too, and the tests' usual 2 s
 * heartbeat closes them as silent. Liveness is tested elsewhere; the fuzz tests are about input.
 */
export const FUZZ_APP_SETTINGS: Readonly<Record<string, string>> = Object.freeze({ HEARTBEAT_MS: '60000' });
