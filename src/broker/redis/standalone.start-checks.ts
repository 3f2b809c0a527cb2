import type { Logger } from '@nestjs/common';
import { ErrorReply } from 'redis';
import { redactedRedisUrl } from '../../config/redacted-redis-url';
import { RedisClient, describeError } from './redis.client';
import { StartSettingError } from './redis.connection';

/*
 * What a one-node start refuses, or warns of, about the server REDIS_URL leads to: settings that
 * no later try mends, each said at start-up rather than met as failed calls once the pod serves.
 */

/** The connection's bounded: each question counts against the command connection's deadline. */
type Bounded = <T>(operation: string, call: Promise<T>) => Promise<T>;

/**
 * SELECT refused in the handshake: a database past the server's `databases` (16 by default), or
 * a number too large for Redis to read. SELECT is the handshake's only numeric argument.
 */
const DATABASE_REFUSED = /^ERR (DB index is out of range|invalid DB index|value is not an integer or out of range)/;

/** The start's error when `cause`, a connect's failure, is REDIS_URL's database refused; undefined otherwise. */
export function databaseRefused(url: string, cause: Error): StartSettingError | undefined {
  if (!(cause instanceof ErrorReply) || !DATABASE_REFUSED.test(cause.message)) return undefined;
  return new StartSettingError(
    'REDIS_URL',
    `Redis at ${redactedRedisUrl(url)} answers, and refuses database ${new URL(url).pathname.slice(1)} (${cause.message}): ` +
      `set REDIS_URL's database to one the server has, 0 to 15 unless its databases setting allows more`,
  );
}

/**
 * A Redis Cluster node reached as one server (REDIS_URL at a managed service's "cluster mode"
 * endpoint, or at one node): it serves its own slots only and answers every other key MOVED, so
 * the pod was ready while most rooms' joins answered `internal` and their publishes 500. Start-up
 * refuses it instead. A server that may not run INFO (an ACL) is let through.
 */
export async function refuseClusterNode(command: RedisClient, bounded: Bounded): Promise<void> {
  let info: string;
  try {
    info = await bounded('INFO cluster', command.info('cluster'));
  } catch (error) {
    if (error instanceof ErrorReply) return;
    throw error;
  }
  if (/^cluster_enabled:1\b/m.test(info)) {
    throw new Error('it is a Redis Cluster node (cluster_enabled:1), which serves only its own slots: give the Cluster\'s nodes in REDIS_CLUSTER_NODES instead');
  }
}

/**
 * REDIS_URL with REDIS_MIN_REPLICAS above the replicas the server has: valid (a replica may be
 * on its way), but every publish is refused (503) until one connects, with nothing at start-up
 * saying why. Sentinel's primaries are watched by the failover logic instead.
 */
export async function warnOfTooFewReplicas(command: RedisClient, bounded: Bounded, settings: { url: string; minReplicas: number; downWhileReadOnly: boolean }, logger: Logger): Promise<void> {
  const { minReplicas, downWhileReadOnly } = settings;
  if (minReplicas === 0 || !downWhileReadOnly) return;
  try {
    const info = await bounded('INFO replication', command.info('replication'));
    const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
    if (replicas < minReplicas) {
      logger.warn({
        message: `REDIS_MIN_REPLICAS is ${minReplicas} but Redis has ${replicas} connected replica(s): every publish is answered 503 until enough replicas connect`,
        url: redactedRedisUrl(settings.url),
      });
    }
  } catch (error) {
    logger.debug({ message: 'Could not count Redis replicas', error: describeError(error) });
  }
}
