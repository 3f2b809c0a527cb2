import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';
import { JoinProxyRequest } from '@herald/client/protocol';

/**
 * The claims every refreshed token changes. Herald checks them itself (`exp`, `nbf`) when the
 * connection opens; a backend deciding on room access by user, org, role and the like sees
 * the same answer for a refreshed token.
 */
const TIME_CLAIMS: ReadonlySet<string> = new Set(['iat', 'exp', 'nbf']);

/**
 * Joins whose requests would be identical: the user, the room and every claim, canonical
 * (keys sorted at every level), so concurrent joins share one request only when the backend
 * would have been sent the same body. A decision is the backend's about that body, not about
 * the user: two tokens of one user (another org, a revoked `jti`) are asked about separately.
 */
export function joinRequestKey(request: JoinProxyRequest): string {
  return digest(request.user, request.room, request.claims);
}

/**
 * Allows remembered for their ttl: the same as `joinRequestKey` but without `iat`, `exp` and
 * `nbf`, so a decision outlives the token refreshes within its ttl. Sending `ttl` is the
 * backend's say-so that the decision holds for a while; a backend that decides on those
 * claims answers without one.
 */
export function joinDecisionKey(request: JoinProxyRequest): string {
  const claims = Object.fromEntries(Object.entries(request.claims).filter(([name]) => !TIME_CLAIMS.has(name)));
  return digest(request.user, request.room, claims);
}

/** A fixed-size key: a token may carry kilobytes of claims, the cache holds thousands of keys. */
function digest(user: string, room: string, claims: Record<string, unknown>): string {
  return createHash('sha256').update(stableStringify({ user, room, claims })).digest('base64url');
}
