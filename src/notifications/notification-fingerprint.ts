import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';

/**
 * What a publish request asked for, as one string: the sha256 of the canonical JSON (keys
 * sorted) of its target rooms, type and payload. Two requests with the same `id` are repeats
 * only when their fingerprints match (section 6); the server-set timestamp is left out, and
 * the targets are the resolved room set, so `users: ["bob"]` and `rooms: ["user:bob"]` agree.
 */
export function notificationFingerprint(rooms: readonly string[], type: string, payload: Record<string, unknown>): string {
  const canonical = stableStringify({ targets: [...rooms].sort(), type, payload });
  return createHash('sha256').update(canonical).digest('hex');
}
