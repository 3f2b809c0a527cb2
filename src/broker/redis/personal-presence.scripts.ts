import { CommandParser, defineScript } from 'redis';
import { NOW_MS } from './lua';
import { PRESENCE_HELPERS, PRESENCE_KEY_COUNT, PresenceKeys, pushPresenceKeys } from './presence.scripts';

/**
 * The Lua scripts behind PersonalPresence: a pod's counts of its users' connections in their
 * personal rooms, one hash per pod and shard, and the shard's set of live pods. Each runs on
 * the shard's slot (its keys share the shard's hash tag).
 */

/** Where one shard of the personal rooms' presence lives (RedisKeys.personalPresenceKeys). */
export interface PersonalPresenceKeys {
  /** Sorted set: the pods counting users in this shard, scored by when their counts expire. */
  pods: string;
  /** This pod's hash user -> connections. */
  podCounts: string;
  /** What every pod's hash key starts with; the pod id follows. */
  podCountsPrefix: string;
  /** The shard's name (RedisKeys.personalPresenceRoom), also the room of earlier versions' entries. */
  shard: string;
  /** The presence keys of that room: earlier versions' entries per connection, read during a rolling update. */
  earlier: PresenceKeys;
}

/**
 * How a write treats the pod's hash: `update` sets the counts given (0 deletes the user),
 * `replace` first drops every count the hash held (a resync: counts whose writes Redis lost go
 * too), `forget` drops the hash and the pod (a pod closing).
 */
export type PersonalPresenceWriteMode = 'update' | 'replace' | 'forget';

/**
 * KEYS: the shard's pods, this pod's counts. ARGV: pod id, TTL ms, mode, then user and count
 * pairs. Marks the pod live for the TTL and its counts kept as long. Returns 1 when the pod's
 * hash existed before the write (a refresh that finds it gone knows its counts were lost: the pod
 * stalled past the TTL, or Redis lost them), else 0.
 */
const PERSONAL_PRESENCE_WRITE = `${NOW_MS}
local pods, counts = KEYS[1], KEYS[2]
local pod, ttl_ms, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local existed = redis.call('EXISTS', counts)
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', pods, '-inf', now)
if mode == 'forget' then
  redis.call('DEL', counts)
  redis.call('ZREM', pods, pod)
  return existed
end
if mode == 'replace' then redis.call('DEL', counts) end
for index = 4, #ARGV, 2 do
  if ARGV[index + 1] == '0' then redis.call('HDEL', counts, ARGV[index])
  else redis.call('HSET', counts, ARGV[index], ARGV[index + 1]) end
end
redis.call('ZADD', pods, now + ttl_ms, pod)
redis.call('PEXPIRE', pods, ttl_ms)
redis.call('PEXPIRE', counts, ttl_ms)
return existed
`;

/**
 * KEYS: the shard's ordinary presence keys (earlier versions' entries per connection; their
 * clock and announced times go unused, as those versions kept none), then its pods. ARGV: the
 * pods' hash key prefix, a user. Returns the user's connections across the live pods, plus those earlier
 * versions' pods still count (a rolling update), after forgetting the entries that expired.
 * The pods' hashes are named from the set, not passed: they share the shard's hash tag, so
 * they are on the script's slot.
 */
const PERSONAL_PRESENCE_OF_USER = `${PRESENCE_HELPERS}
local pods, prefix, user = KEYS[${PRESENCE_KEY_COUNT + 1}], ARGV[1], ARGV[2]
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', pods, '-inf', now)
local total = 0
for _, pod in ipairs(redis.call('ZRANGE', pods, 0, -1)) do
  local count = redis.call('HGET', prefix .. pod, user)
  if count then total = total + tonumber(count) end
end
purge(now)
local earlier = redis.call('HGET', users, user)
if earlier then total = total + tonumber(earlier) end
return total
`;

export const PERSONAL_PRESENCE_SCRIPTS = {
  heraldPersonalPresenceWrite: defineScript({
    SCRIPT: PERSONAL_PRESENCE_WRITE,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: PersonalPresenceKeys, podId: string, ttlMs: number, mode: PersonalPresenceWriteMode, counts: readonly string[]) {
      parser.pushKey(keys.pods);
      parser.pushKey(keys.podCounts);
      parser.push(podId, String(ttlMs), mode, ...counts);
    },
    transformReply: (reply: number): boolean => reply === 1,
  }),
  heraldPersonalPresenceOfUser: defineScript({
    SCRIPT: PERSONAL_PRESENCE_OF_USER,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT + 1,
    parseCommand(parser: CommandParser, keys: PersonalPresenceKeys, user: string) {
      pushPresenceKeys(parser, keys.earlier);
      parser.pushKey(keys.pods);
      parser.push(keys.podCountsPrefix, user);
    },
    transformReply: (reply: number): number => Number(reply),
  }),
};
