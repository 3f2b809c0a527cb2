import { CommandParser, defineScript } from 'redis';

/**
 * The Lua scripts behind the Redis webhook drivers. Every key shares the hash tag `{hooks}`
 * (HooksRedisStore), so each script touches one slot, on a Redis Cluster too. Times come from Redis (TIME).
 *
 * Activity: a sorted set of live pods scored by when they expire, one hash per pod
 * (activity key -> this pod's count) and one hash of cluster-wide totals. A pod refreshes its
 * score every half heartbeat; a pod not refreshed for two heartbeats is dead, and whichever pod
 * notices it first takes its counts off the totals. Any total leaving or reaching zero queues
 * its event in the same step, so the event is raised exactly once and queued in the order the
 * changes happened.
 *
 * Time in which no pod reached Redis is no pod's fault. After Redis was paused (a frozen VM,
 * SIGSTOP) or unreachable from every pod, each pod's score had lapsed, and the first script
 * after it (often a heartbeat queued during the pause) would reap every other pod: `user.offline`
 * and `room.vacated` for everyone, then `user.online` and `room.occupied` again as the pods
 * register anew. So the scripts keep a clock (when one last ran): each pod runs one at least
 * every refresh (a quarter of the pod TTL), and when none ran for half the TTL every pod's
 * expiry moves on by the time that passed. A pod that really died meanwhile is reaped that much later.
 *
 * A failover can lose a pod's last updates without an error reaching it (the old primary took
 * them after its replica was promoted: a planned Sentinel switch, a primary paused past its
 * failover): each update records a mark of its own beside the pod's hash and names the one
 * before it, and an update or heartbeat that finds another mark there tells the pod to send
 * every count again (RedisActivityTracker).
 *
 * A Redis that loses its data (a restart without persistence) loses the counts too, so the
 * downs a pod could not record meanwhile would never come out of them: the first full sync
 * after the loss raises them itself (ACTIVITY_APPLY). A loss is told apart from a pod that was
 * merely reaped (whose downs the reaper raised) by a dataset id, set once by whichever pod
 * finds none: a pod that knew another id was talking to a Redis that has since lost its data.
 */

const NOW_MS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * Appends an entry, first dropping the oldest of a full queue, so the newest event for every
 * user or room is always queued and receivers, reading the events as state, end on the right
 * one (WebhookQueue's contract). One LPOP per event once full; more only for a queue left
 * longer than queue max (WEBHOOK_QUEUE_MAX lowered since it filled). Returns how many were dropped.
 */
const PUSH_NEWEST = `
local function push_newest(queue, queue_max, entry)
  local over = redis.call('LLEN', queue) - queue_max + 1
  if over > 0 then redis.call('LPOP', queue, over) else over = 0 end
  redis.call('RPUSH', queue, entry)
  return over
end
`;

/** KEYS: pods, totals, queue, this pod's hash, clock. ARGV[1..3]: pod hash prefix, event id prefix, queue max. */
const ACTIVITY_HELPERS = `${NOW_MS}${PUSH_NEWEST}
local pods, totals, queue, own, clock = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local pod_prefix, id_prefix, queue_max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local queued, dropped = 0, 0
-- Queue entry: <id>\\n<queuedAtMs>\\n<type>\\n<occurredAtMs>\\n<fields JSON> (see webhook-event.ts).
local function emit(key, up)
  local name = string.sub(key, 3)
  local event_type, fields
  if string.sub(key, 1, 1) == 'u' then
    event_type = up and 'user.online' or 'user.offline'
    fields = cjson.encode({user = name})
  else
    event_type = up and 'room.occupied' or 'room.vacated'
    fields = cjson.encode({room = name})
  end
  queued = queued + 1
  dropped = dropped + push_newest(queue, queue_max, id_prefix .. queued .. '\\n' .. now .. '\\n' .. event_type .. '\\n' .. now .. '\\n' .. fields)
end
local function shift(key, delta)
  local before = tonumber(redis.call('HGET', totals, key) or '0')
  local after = before + delta
  if after > 0 then redis.call('HSET', totals, key, after) else redis.call('HDEL', totals, key) end
  if before <= 0 and after > 0 then emit(key, true) elseif before > 0 and after <= 0 then emit(key, false) end
end
local function set_own(key, count)
  local old = tonumber(redis.call('HGET', own, key) or '0')
  if count == old then return end
  if count > 0 then redis.call('HSET', own, key, count) else redis.call('HDEL', own, key) end
  shift(key, count - old)
end
-- Forgets a pod and all it counted: its users go offline and its rooms vacate.
local function reap(pod_id)
  local hash = pod_prefix .. pod_id
  local entries = redis.call('HGETALL', hash)
  for i = 1, #entries, 2 do shift(entries[i], -tonumber(entries[i + 1])) end
  redis.call('DEL', hash, hash .. ':mark')
  redis.call('ZREM', pods, pod_id)
end
-- Records this script's run; after a pause of more than half the pod TTL, moves the expiry of
-- every pod that had not lapsed when it began on by the pause, and to at least a full TTL from
-- now: each pod then has a whole TTL to reconnect and register again, as after its own start
-- (moved on by the pause alone, a pod whose deadline was near when Redis stopped had only what
-- was left of it, and one slow to reconnect was reaped). A pod that had lapsed is reaped.
local function forgive_pause(ttl_ms)
  local touched = tonumber(redis.call('GET', clock))
  redis.call('SET', clock, now)
  if not touched or now - touched <= ttl_ms / 2 then return end
  local listed = redis.call('ZRANGEBYSCORE', pods, touched, '+inf', 'WITHSCORES')
  for i = 1, #listed, 2 do redis.call('ZADD', pods, math.max(tonumber(listed[i + 1]) + now - touched, now + ttl_ms), listed[i]) end
end
local function reap_expired()
  for _, pod_id in ipairs(redis.call('ZRANGEBYSCORE', pods, '-inf', now, 'LIMIT', 0, 10)) do reap(pod_id) end
end
`;

/**
 * KEYS[6]: the dataset id; KEYS[7]: this pod's mark. ARGV[4..]: pod id, pod TTL ms, '1' for a
 * full sync, the dataset id this pod last saw ('' for none), a fresh one to set if Redis has
 * none, this update's mark, the mark of the update before it, '1' when Redis lost this pod's
 * updates (raise the downs it sends as for lost data, below), then activity key and count pairs
 * (this pod's absolute counts, in the order they changed). The mark is kept (for two pod TTLs,
 * renewed by each heartbeat) so the pod can tell whether Redis still holds its last update: a
 * partial update that finds another mark than the one before it changes nothing and returns
 * {-2} (Redis lost updates this one builds on: the pod sends a full sync).
 * A partial update from a pod that is not registered (it was reaped, or Redis lost its data)
 * changes nothing and returns {-1}: the pod then sends a full sync, which also forgets keys it
 * no longer counts. Counts are absolute, so applying an update twice changes nothing.
 * A full sync also carries, as zero counts, the keys this pod saw go to zero without Redis
 * acknowledging it. When Redis lost its data since this pod's last full sync, those downs are
 * raised here, for each key no pod counts again (another tab elsewhere keeps its user online).
 * Returns {1, queued, dropped, dataset id ('' for a partial update)}.
 */
const ACTIVITY_APPLY = `${ACTIVITY_HELPERS}
local pod_id, ttl_ms, full = ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
forgive_pause(ttl_ms)
if not full and not redis.call('ZSCORE', pods, pod_id) then return {-1, 0, 0, ''} end
if not full and (redis.call('GET', KEYS[7]) or '') ~= ARGV[10] then return {-2, 0, 0, ''} end
local dataset, lost = '', false
-- Keys this full sync took off the pod's hash: their down is raised there, not again below.
local zeroed = {}
if full then
  dataset = redis.call('GET', KEYS[6])
  if not dataset then
    dataset = ARGV[8]
    redis.call('SET', KEYS[6], dataset)
  end
  lost = (ARGV[7] ~= '' and ARGV[7] ~= dataset) or ARGV[11] == '1'
  local wanted = {}
  for i = 12, #ARGV, 2 do
    if tonumber(ARGV[i + 1]) > 0 then wanted[ARGV[i]] = true end
  end
  for _, key in ipairs(redis.call('HKEYS', own)) do
    if not wanted[key] then
      set_own(key, 0)
      zeroed[key] = true
    end
  end
end
for i = 12, #ARGV, 2 do
  local key, count = ARGV[i], tonumber(ARGV[i + 1])
  if lost and count == 0 and redis.call('HEXISTS', own, key) == 0 then
    if not zeroed[key] and redis.call('HEXISTS', totals, key) == 0 then emit(key, false) end
  else
    set_own(key, count)
  end
end
redis.call('ZADD', pods, now + ttl_ms, pod_id)
redis.call('SET', KEYS[7], ARGV[9], 'PX', 2 * ttl_ms)
reap_expired()
return {1, queued, dropped, dataset}
`;

/**
 * KEYS[6]: this pod's mark. ARGV[4..5]: pod id, pod TTL ms. Refreshes this pod and reaps dead
 * ones; {-1} when this pod was reaped, else {1, queued, dropped, the mark of this pod's last
 * update Redis holds ('' for none)}.
 */
const ACTIVITY_HEARTBEAT = `${ACTIVITY_HELPERS}
local pod_id, ttl_ms = ARGV[4], tonumber(ARGV[5])
forgive_pause(ttl_ms)
if not redis.call('ZSCORE', pods, pod_id) then return {-1, 0, 0, ''} end
redis.call('ZADD', pods, now + ttl_ms, pod_id)
redis.call('PEXPIRE', KEYS[6], 2 * ttl_ms)
reap_expired()
return {1, queued, dropped, redis.call('GET', KEYS[6]) or ''}
`;

/** ARGV[4..5]: pod id, pod TTL ms. The pod leaves: everything it counted goes down. */
const ACTIVITY_LEAVE = `${ACTIVITY_HELPERS}
forgive_pause(tonumber(ARGV[5]))
reap(ARGV[4])
return {1, queued, dropped}
`;

/**
 * KEYS: queue. ARGV: queue max, then id, type and fields JSON of each event (entryParts), stored
 * with Redis's time as both queue and event time. Returns how many of the oldest were dropped.
 */
const QUEUE_PUSH = `${NOW_MS}${PUSH_NEWEST}
local dropped = 0
for i = 2, #ARGV, 3 do
  dropped = dropped + push_newest(KEYS[1], tonumber(ARGV[1]), ARGV[i] .. '\\n' .. now .. '\\n' .. ARGV[i + 1] .. '\\n' .. now .. '\\n' .. ARGV[i + 2])
end
return dropped
`;

/**
 * KEYS: lease, queue. ARGV: pod id, lease ms, max. Takes or extends the delivery lease; when
 * held returns {1, now ms, depth, head entries}, else {0}.
 */
const QUEUE_LEASE = `${NOW_MS}
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, now, redis.call('LLEN', KEYS[2]), redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)}
`;

/** KEYS: queue. ARGV: ids in queue order. Pops each that is at the head; skips the others. */
const QUEUE_REMOVE = `
local removed = 0
for i = 1, #ARGV do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  if string.sub(head, 1, #ARGV[i] + 1) == ARGV[i] .. '\\n' then
    redis.call('LPOP', KEYS[1])
    removed = removed + 1
  end
end
return removed
`;

/** KEYS: lease. ARGV: pod id. */
const QUEUE_RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/** KEYS: schedule. ARGV: delay ms, max, then members. Returns how many were dropped (full). */
const UNREAD_ADD = `${NOW_MS}
local dropped = 0
for i = 3, #ARGV do
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    dropped = dropped + 1
  else
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
  end
end
return dropped
`;

/** KEYS: schedule. ARGV: max, lease ms. Returns the due members, each pushed lease ms into the future. */
const UNREAD_CLAIM = `${NOW_MS}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), member) end
return due
`;

export interface ActivityKeys {
  pods: string;
  totals: string;
  queue: string;
  pod: string;
  podPrefix: string;
  /** Names the data Redis holds: a new id means the counts were lost (ACTIVITY_APPLY). */
  dataset: string;
  /** When an activity script last ran (Redis ms): a long silence was a pause no pod is blamed for. */
  clock: string;
  /** The mark of this pod's last update Redis holds (`<pod hash>:mark`, which a reap deletes with the hash). */
  mark: string;
}

export interface ActivityReply {
  /** False when this pod was not registered (reaped, or Redis lost its data): send a full sync. */
  registered: boolean;
  /** True when Redis no longer holds the update this one followed (a failover lost it): send a full sync. */
  lostUpdates?: boolean;
  queued: number;
  dropped: number;
  /** After a full sync: the id of the data Redis holds. */
  dataset?: string;
}

/** A heartbeat's reply: also the mark of this pod's last update Redis holds ('' for none). */
export interface HeartbeatReply extends ActivityReply {
  mark: string;
}

const activityReply = (reply: [number, number, number, string?]): ActivityReply => ({
  registered: reply[0] !== -1,
  ...(reply[0] === -2 ? { lostUpdates: true } : {}),
  queued: Number(reply[1]),
  dropped: Number(reply[2]),
  ...(reply[3] ? { dataset: String(reply[3]) } : {}),
});

/** Keys come first in a script call; `extraKeys` are the script's own, after the five shared ones. */
function pushActivity(parser: CommandParser, keys: ActivityKeys, idPrefix: string, queueMax: number, extraKeys: string[] = []): void {
  parser.pushKey(keys.pods);
  parser.pushKey(keys.totals);
  parser.pushKey(keys.queue);
  parser.pushKey(keys.pod);
  parser.pushKey(keys.clock);
  for (const key of extraKeys) parser.pushKey(key);
  parser.push(keys.podPrefix, idPrefix, String(queueMax));
}

/** What a full sync knows about the data Redis holds (ACTIVITY_APPLY). */
export interface DatasetIds {
  /** The id this pod last saw, '' before its first full sync. */
  known: string;
  /** Set if Redis has none (first start, or its data was lost). */
  fresh: string;
}

/** An update's mark, and the mark of the update before it that Redis should hold (ACTIVITY_APPLY). */
export interface UpdateMarks {
  mark: string;
  /** Checked by a partial update only: a full sync settles everything whatever Redis lost. */
  follows: string;
  /** A full sync after Redis lost this pod's updates: the downs it carries are raised as after lost data. */
  lostUpdates: boolean;
}

export const HOOKS_SCRIPTS = {
  hooksActivityApply: defineScript({
    SCRIPT: ACTIVITY_APPLY,
    NUMBER_OF_KEYS: 7,
    parseCommand(parser: CommandParser, keys: ActivityKeys, idPrefix: string, queueMax: number, podId: string, ttlMs: number, full: boolean, dataset: DatasetIds, marks: UpdateMarks, counts: [string, number][]) {
      pushActivity(parser, keys, idPrefix, queueMax, [keys.dataset, keys.mark]);
      parser.push(podId, String(ttlMs), full ? '1' : '0', dataset.known, dataset.fresh, marks.mark, marks.follows, marks.lostUpdates ? '1' : '0');
      for (const [key, count] of counts) parser.push(key, String(count));
    },
    transformReply: activityReply,
  }),
  hooksActivityHeartbeat: defineScript({
    SCRIPT: ACTIVITY_HEARTBEAT,
    NUMBER_OF_KEYS: 6,
    parseCommand(parser: CommandParser, keys: ActivityKeys, idPrefix: string, queueMax: number, podId: string, ttlMs: number) {
      pushActivity(parser, keys, idPrefix, queueMax, [keys.mark]);
      parser.push(podId, String(ttlMs));
    },
    transformReply: (reply: [number, number, number, string]): HeartbeatReply => ({ registered: reply[0] === 1, queued: Number(reply[1]), dropped: Number(reply[2]), mark: String(reply[3]) }),
  }),
  hooksActivityLeave: defineScript({
    SCRIPT: ACTIVITY_LEAVE,
    NUMBER_OF_KEYS: 5,
    parseCommand(parser: CommandParser, keys: ActivityKeys, idPrefix: string, queueMax: number, podId: string, ttlMs: number) {
      pushActivity(parser, keys, idPrefix, queueMax);
      parser.push(podId, String(ttlMs));
    },
    transformReply: activityReply,
  }),
  hooksQueuePush: defineScript({
    SCRIPT: QUEUE_PUSH,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, queue: string, queueMax: number, entryParts: string[]) {
      parser.pushKey(queue);
      parser.push(String(queueMax), ...entryParts);
    },
    transformReply: (reply: number) => Number(reply),
  }),
  hooksQueueLease: defineScript({
    SCRIPT: QUEUE_LEASE,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, lease: string, queue: string, podId: string, leaseMs: number, max: number) {
      parser.pushKey(lease);
      parser.pushKey(queue);
      parser.push(podId, String(leaseMs), String(max));
    },
    transformReply: (reply: [0] | [1, number, number, string[]]) =>
      reply[0] === 0 ? undefined : { nowMs: Number(reply[1]), depth: Number(reply[2]), entries: reply[3] },
  }),
  hooksQueueRemove: defineScript({
    SCRIPT: QUEUE_REMOVE,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, queue: string, ids: string[]) {
      parser.pushKey(queue);
      parser.push(...ids);
    },
    transformReply: (reply: number) => Number(reply),
  }),
  hooksQueueRelease: defineScript({
    SCRIPT: QUEUE_RELEASE,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, lease: string, podId: string) {
      parser.pushKey(lease);
      parser.push(podId);
    },
    transformReply: (reply: number) => Number(reply),
  }),
  hooksUnreadAdd: defineScript({
    SCRIPT: UNREAD_ADD,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, schedule: string, delayMs: number, max: number, members: string[]) {
      parser.pushKey(schedule);
      parser.push(String(delayMs), String(max), ...members);
    },
    transformReply: (reply: number) => Number(reply),
  }),
  hooksUnreadClaim: defineScript({
    SCRIPT: UNREAD_CLAIM,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, schedule: string, max: number, leaseMs: number) {
      parser.pushKey(schedule);
      parser.push(String(max), String(leaseMs));
    },
    transformReply: (reply: string[]) => reply,
  }),
};
