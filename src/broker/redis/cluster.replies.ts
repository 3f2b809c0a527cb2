import { ErrorReply } from 'redis';

/** Replies that mean "not here": a slot moved; "not now" for a caller, like asCallError's own. */
export const REDIRECTED = /^(MOVED|ASK)\b/;
/** A multi-key command on a slot that is migrating, whose keys are not all on one node yet. */
export const TRY_AGAIN = /^TRYAGAIN\b/;
/**
 * A node refusing a slot the slot map routes to it ("CLUSTERDOWN Hash slot not served"): it
 * serves none (removed with `redis-cli --cluster del-node` while still running, its slot moved
 * away before), or its cluster lost the slot. Unlike MOVED it names no other node, and node-redis
 * refreshes nothing; the slot map is asked for again (followRefusal), at most once per
 * REFUSAL_REFRESH_INTERVAL_MS, since a cluster that lost a shard answers it to every call there.
 */
export const NOT_SERVED = /^CLUSTERDOWN\b/;

/** A server without Cluster support (cluster_enabled:0 in INFO cluster) asked for its slot map. */
export const NO_CLUSTER_SUPPORT = /cluster support disabled/i;

export function isReply(error: unknown, pattern: RegExp): boolean {
  return error instanceof ErrorReply && pattern.test(error.message);
}
