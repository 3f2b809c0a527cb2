import { parseEnvironment } from '../../../src/config/environment';

/** What a stop may take beyond the longest drain: the process's own exit (a drain that used all 30 s of the defaults exited at +30.02 s). */
export const EXIT_MARGIN_S = 5;

const STOP_SETTINGS = ['DRAIN_DELAY_MS', 'DRAIN_SPREAD_MS', 'CLOSE_TIMEOUT_MS', 'REDIS_COMMAND_TIMEOUT_MS', 'WEBHOOK_TIMEOUT_MS'] as const;

/**
 * The longest a SIGTERM may take to end the process with `settings` (the app's defaults for the
 * rest), in seconds, as docs/operations.md ("Probes, shutdown and rolling updates") adds it up:
 * the drain, CLOSE_TIMEOUT_MS for clients and HTTP connections that hang, then the longer of a
 * silent Redis's last calls (twice REDIS_COMMAND_TIMEOUT_MS) and, on one pod without Redis, the
 * last webhook attempt (WEBHOOK_TIMEOUT_MS).
 */
export function longestStopS(settings: Record<string, string | undefined> = {}): number {
  const defaults = parseEnvironment({});
  const value = (name: (typeof STOP_SETTINGS)[number]) => Number(settings[name] ?? defaults[name]);
  const drainMs = value('DRAIN_DELAY_MS') + value('DRAIN_SPREAD_MS') + value('CLOSE_TIMEOUT_MS');
  return (drainMs + Math.max(2 * value('REDIS_COMMAND_TIMEOUT_MS'), value('WEBHOOK_TIMEOUT_MS'))) / 1000;
}
