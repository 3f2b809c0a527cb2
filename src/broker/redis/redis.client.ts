import { createClient } from 'redis';
import { REDIS_SCRIPTS } from './redis.scripts';

export interface RedisClientOptions {
  connectTimeoutMs: number;
  reconnectStrategy: false | ((retries: number, cause: Error) => number | Error);
}

/** A node-redis client with every seam's scripts loaded. */
export function createRedisClient(url: string, options: RedisClientOptions) {
  return createClient({
    url,
    scripts: REDIS_SCRIPTS,
    // Fail at once while disconnected instead of queueing: the edges answer `unavailable` / 503.
    disableOfflineQueue: true,
    // No per-command timer (node-redis arms an AbortSignal.timeout per command): every call is
    // bounded by its connection's RedisDeadline instead (StandaloneRedisConnection.bounded).
    commandOptions: { timeout: 0 },
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy: options.reconnectStrategy },
  });
}
export type RedisClient = ReturnType<typeof createRedisClient>;

/** The URL without its password, for logs and errors. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/** An error as one line for logs: node-redis's own errors often say it only by their class. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join('; ');
  // node-redis's TimeoutError has no message: its class says what happened.
  if (error instanceof Error) return error.message || error.constructor.name;
  return String(error);
}
