import type { Logger } from '@nestjs/common';
import { ErrorReply, RedisClient as NodeRedisClient } from 'redis';
import { BrokerUnavailableError, UnconfirmedCallError } from '../broker';
import { DeadlineExpiredError, withDeadline } from '../deadline';
import { REDIS_SCRIPTS } from './redis.scripts';

/** Reconnect pauses and start-up attempts, the same in every mode unless told otherwise. */
export const RECONNECT_DEFAULTS = { reconnectMinDelayMs: 50, reconnectMaxDelayMs: 2000, startupAttempts: 5 };

/**
 * The pause before reconnect attempt `attempt` (0 first): doubling from the minimum up to the
 * maximum, with full jitter in the upper half, so pods that lost Redis together do not return
 * in lockstep.
 */
export function reconnectBackoffMs(attempt: number, { reconnectMinDelayMs, reconnectMaxDelayMs }: { reconnectMinDelayMs: number; reconnectMaxDelayMs: number }): number {
  const ceiling = Math.min(reconnectMaxDelayMs, reconnectMinDelayMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export interface RedisClientOptions {
  connectTimeoutMs: number;
  reconnectStrategy: false | ((retries: number, cause: Error) => number | Error);
}

/** `build`'s result, built on the first call and handed out again after. */
export function builtOnce<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

/*
 * node-redis builds a class for each client configuration (every Redis command a method on it:
 * 20-200 ms of blocked event loop here) and keeps only the last one built, keyed by the JSON of
 * all of createClient's options, socket and password included. So clients made in turn with
 * different options (one per sentinel asked, a server's ROLE, the primary, the hooks' own) built
 * it again each time: at start, and through every Sentinel failover, while the pod serves. Each
 * kind's class is built here once (RedisClient.factory, on first use, so the embedded broker
 * never builds one) and every client is made from it. Without the `redis` package's module
 * commands (JSON, search, time series, bloom): Herald runs none of them.
 */
const scriptedClients = builtOnce(() => NodeRedisClient.factory({ scripts: REDIS_SCRIPTS }));
const plainClients = builtOnce(() => NodeRedisClient.factory());

export type PlainClientOptions = Parameters<ReturnType<typeof plainClients>>[0];

/** A client with node-redis's own commands and none of Herald's scripts: for asking sentinels and servers. */
export function createPlainRedisClient(options: PlainClientOptions) {
  return plainClients()(options);
}
export type PlainRedisClient = ReturnType<typeof createPlainRedisClient>;

/**
 * Destroys a node-redis client, also one still opening its socket. node-redis takes the socket as
 * its own only once the TCP connect is done, so a destroy() before then closes nothing, and that
 * socket goes on with the handshake and stays open: against a sentinel that takes connections and
 * never answers (frozen), each question dropped left one behind. Destroyed again as it connects,
 * before its handshake.
 */
export function destroyClient(client: { destroy(): void; once(event: 'connect', listener: () => void): unknown }): void {
  client.destroy();
  client.once('connect', () => client.destroy());
}

/** What shutClient closes: a node-redis client, or a cluster or Sentinel client. */
export type ClosableClient = Parameters<typeof destroyClient>[0] & { readonly isOpen: boolean; close(): Promise<unknown> };

/**
 * Closes a client within `timeoutMs`, or destroys it (logged on `logger`, the owner's). Every
 * Redis client Herald closes goes this way: the one-node connection's, the webhook drivers', and
 * a Cluster's (see shutCluster).
 */
export async function shutClient(client: ClosableClient | undefined, timeoutMs: number, logger: Logger): Promise<void> {
  if (!client?.isOpen) return;
  try {
    // close() waits for every pending reply, which a silent Redis never sends.
    await withDeadline(client.close(), timeoutMs, () => new DeadlineExpiredError('close', timeoutMs));
  } catch (error) {
    logger.debug({ message: 'Graceful Redis close failed; destroying the connection', error: describeError(error) });
    destroyClient(client);
  }
}

/** A node-redis client with every seam's scripts loaded. */
export function createRedisClient(url: string, options: RedisClientOptions) {
  return scriptedClients()({
    url,
    // Fail at once while disconnected instead of queueing: the edges answer `unavailable` / 503.
    disableOfflineQueue: true,
    // No per-command timer (node-redis arms an AbortSignal.timeout per command): every call is
    // bounded by its connection's RedisDeadline instead (StandaloneRedisConnection.bounded).
    commandOptions: { timeout: 0 },
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy: options.reconnectStrategy },
  });
}
export type RedisClient = ReturnType<typeof createRedisClient>;

/** Causes followed when describing an error: fetch wraps the socket error once or twice. */
const MAX_CAUSES = 4;

/**
 * An error as one line for logs, with its causes: node-redis's own errors often say it only by
 * their class. By shape, not instanceof: the error may come from another realm (test runners'
 * VM contexts).
 */
export function describeError(error: unknown, causesLeft = MAX_CAUSES): string {
  if (typeof error !== 'object' || error === null || !('message' in error)) return String(error);
  const { message, cause, errors } = error as { message: unknown; cause?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.length > 0) return errors.map((inner) => describeError(inner, causesLeft - 1)).join('; ');
  // node-redis's TimeoutError has no message: its class says what happened.
  const text = typeof message === 'string' && message !== '' ? message : (error.constructor?.name ?? 'Error');
  return cause === undefined || causesLeft <= 0 ? text : `${text}: ${describeError(cause, causesLeft - 1)}`;
}

/**
 * Redis error replies that mean "not now" rather than "your command is wrong": loading, busy,
 * failing over, without replicas, out of memory under `noeviction` (OOM), unable to persist
 * (MISCONF); and a WAIT on a primary that turned replica: one that was waiting when a failover
 * demoted it (UNBLOCKED, a planned failover), or one sent after (a primary paused past a
 * failover runs what was queued for it, then turns replica). Its write may or may not have
 * reached the new primary, so it is not acknowledged: a publish retried with its id is delivered
 * once. The call is answered as unavailable (503, `unavailable`), never as a fault of ours.
 */
const NOT_NOW_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM|MISCONF|UNBLOCKED)\b|^ERR WAIT cannot be used with replica instances/;

/**
 * A failed call as its caller sees it: a Redis reply about the command itself as it is, anything
 * else (the connection, a deadline, a reply that means "not now") as BrokerUnavailableError.
 * `alsoNotNow`: replies a mode adds to "not now" (a Cluster's redirections).
 */
export function asCallError(operation: string, error: unknown, alsoNotNow?: RegExp): Error {
  if (error instanceof BrokerUnavailableError) return error;
  if (error instanceof ErrorReply) {
    if (!NOT_NOW_REPLY.test(error.message) && !alsoNotNow?.test(error.message)) return error;
    // Redis answered: it is reachable, and refused for now (out of memory, loading, failing over),
    // before running the call; but a refused WAIT follows the write it waited for.
    const message = `The message broker is unavailable (Redis refused the ${operation}: ${describeError(error)})`;
    return WAIT_REFUSED.test(error.message) ? new UnconfirmedCallError(message) : new BrokerUnavailableError(message);
  }
  // No answer (a deadline, a connection lost under the call): it may have run all the same.
  return new UnconfirmedCallError(`The message broker is unreachable (Redis ${operation}: ${describeError(error)})`);
}

/** A WAIT refused by a primary that turned replica (see NOT_NOW_REPLY): its write was applied first. */
const WAIT_REFUSED = /^UNBLOCKED\b|^ERR WAIT cannot be used with replica instances/;
