import { PERSONAL_ROOM_PREFIX, PUBLIC_ROOM_PREFIX } from '@herald/client/protocol';
import { listEntries } from './environment.transforms';

/** Room patterns as the `rooms` claim writes them: names, or prefixes ending in `*`. */
export const ROOM_PATTERN_LIST = /^\s*(?:[A-Za-z0-9_.:-]{1,128}\*?|\*)(?:\s*,\s*(?:[A-Za-z0-9_.:-]{1,128}\*?|\*))*\s*$/;

/**
 * Rooms no join ever asks the join proxy about: a user's own `user:<sub>` is always theirs and
 * another user's never is (section 2), and `public:*` rooms are open to every token.
 */
const NEVER_PROXIED_PREFIXES = [PERSONAL_ROOM_PREFIX, PUBLIC_ROOM_PREFIX];

/** The JOIN_PROXY_ROOMS patterns that could only ever match rooms that never reach the proxy. */
export function neverProxiedPatterns(list: string): string[] {
  return listEntries(list).filter((pattern) => {
    const fixed = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
    return NEVER_PROXIED_PREFIXES.some((prefix) => fixed.startsWith(prefix));
  });
}
