import { CommandParser, defineScript } from 'redis';
import type { PresenceAnnouncement } from '../presence.store';
import { NOW_MS } from './lua';

/**
 * The Lua scripts behind RedisPresenceStore. Each runs atomically on the room's slot, so pods
 * agree on counts and on which expired users to report, once.
 */

/**
 * Presence: per room, a sorted set of connection ids scored by expiry (Redis ms), a hash
 * connection -> user and a hash user -> live connection count. Every script first forgets the
 * entries that expired (pods that died without cleaning up), so counts are always current.
 *
 * Except after a stall. A Redis that was paused (a frozen VM, SIGSTOP) or that no pod could reach
 * let every entry age while the pods holding them could not refresh them, and the first script
 * after it (often a command each pod queued during the stall) would report those pods' users as
 * gone: a `left` for users who never left, and no `joined` once their pods register them again.
 * So each room with entries also keeps a clock (a hash: when a script last touched the room,
 * and until when its grace lasts; gone with the last entry). Every pod with entries in a room
 * touches it at least every 1.5 refresh intervals, well under half the TTL; a room not touched
 * for longer than that was not being looked after, and the entries that expired meanwhile are
 * not purged for one TTL, long enough for the pods that hold them to refresh them. A dead pod's
 * entries are purged once the grace ends.
 */
export const PRESENCE_HELPERS = `${NOW_MS}
local expiry, connections, users, clock, announced, departed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
-- How many entry TTLs a departure is remembered (see record_departure).
local DEPARTURE_TTLS = 10
local departures_recorded = false
-- Records that the room was told \`user\` left (or that the user's entries expired, which pods
-- tell), at \`now\`: a pod that could not hear the room then asks for the departures since
-- (PRESENCE_UNHEARD). The user's \`joined\` time stays in \`announced\` beside it: a user who
-- arrived after that time too was never heard of there, and is not told gone either.
local function record_departure(user, now)
  redis.call('ZADD', departed, now, user)
  departures_recorded = true
end
-- Once per script that recorded any: departures older than DEPARTURE_TTLS entry TTLs go, with
-- the \`joined\` times kept for them.
local function keep_departures(now, ttl_ms)
  if not departures_recorded then return end
  local oldest = now - DEPARTURE_TTLS * ttl_ms
  for _, user in ipairs(redis.call('ZRANGEBYSCORE', departed, '-inf', oldest)) do
    if redis.call('HEXISTS', users, user) == 0 then redis.call('HDEL', announced, user) end
  end
  redis.call('ZREMRANGEBYSCORE', departed, '-inf', oldest)
  redis.call('PEXPIRE', departed, DEPARTURE_TTLS * ttl_ms)
end
-- True when it was the user's last entry; its \`joined\` time is the caller's to drop or keep
-- (record_departure keeps it).
local function forget(id, user)
  redis.call('ZREM', expiry, id)
  redis.call('HDEL', connections, id)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    return true
  end
  return false
end
-- A room without entries has nothing to look after, and keeps no clock (no key is left behind):
-- true, with its clock deleted, when the room has no entry.
local function empty_without_clock()
  if redis.call('EXISTS', expiry) == 1 then return false end
  redis.call('DEL', clock, announced)
  return true
end
-- Records this script's touch of the room; false while the room's grace after a stall lasts.
local function may_purge(now, ttl_ms)
  if empty_without_clock() then return true end
  local times = redis.call('HMGET', clock, 'touched', 'grace')
  local touched, grace = tonumber(times[1]), tonumber(times[2])
  if touched and now - touched > ttl_ms / 2 then
    grace = now + ttl_ms
    redis.call('HSET', clock, 'touched', now, 'grace', grace)
  else
    redis.call('HSET', clock, 'touched', now)
  end
  -- As long as the entries' keys: a room no script touches for a TTL has lost them, and a
  -- grace lasts while the pods refreshing during it keep touching the room.
  redis.call('PEXPIRE', clock, ttl_ms)
  return not grace or now >= grace
end
-- Returns the users whose last connection just expired; with \`ttl_ms\` (not in a personal
-- rooms' shard), records their departures.
local function purge(now, ttl_ms)
  local gone = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
    local user = redis.call('HGET', connections, id)
    if not user then redis.call('ZREM', expiry, id)
    elseif forget(id, user) then
      table.insert(gone, user)
      if ttl_ms then record_departure(user, now) else redis.call('HDEL', announced, user) end
    end
  end
  return gone
end
-- Of the users purge() reported, those with no entry now (a refresh may have brought one back).
local function still_gone(gone)
  local absent = {}
  for _, user in ipairs(gone) do
    if redis.call('HEXISTS', users, user) == 0 then table.insert(absent, user) end
  end
  return absent
end
-- Returns true when this is the user's first live connection in the room.
local function upsert(id, user, expires_at)
  redis.call('ZADD', expiry, expires_at, id)
  if redis.call('HSETNX', connections, id, user) == 0 then return false end
  if redis.call('HINCRBY', users, user, 1) > 1 then return false end
  redis.call('ZREM', departed, user)
  return true
end
local function keep(ttl_ms, now)
  keep_departures(now, ttl_ms)
  redis.call('PEXPIRE', connections, ttl_ms)
  redis.call('PEXPIRE', users, ttl_ms)
  redis.call('PEXPIRE', announced, ttl_ms)
  -- 0: the room has no entry left (see empty_without_clock).
  if redis.call('PEXPIRE', expiry, ttl_ms) == 0 then redis.call('DEL', clock, announced) end
end
`;

/**
 * ARGV: entry TTL ms; the announcement (PresenceAnnouncement): the most users told, or '' for
 * none, then the publish command, the room's channel, what its messages start with, the room and
 * the time (ISO 8601) for the frames; then the changes one pod asked for in one turn, in order:
 * `+ <connection id> <user>` for an add, `- <connection id>` for a remove, `+!`/`-!` to announce
 * it. Answers exactly as one script per change would, run back to back: the expired users are
 * those the first change would report, and each change gets {1 if it was the user's first
 * connection (add) or last (remove), distinct users after it}.
 *
 * An announced change that changed the user publishes the `presence` frame (presenceFrame's
 * bytes) as a broadcast sparing the user (`B "<user>"`), in this step: every pod hears a room's
 * presence in the order of its changes.
 * Returns {{users whose entries expired}, {changed, users, changed, users, ...}}.
 */
const PRESENCE_CHANGES = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local max_told = tonumber(ARGV[2])
local function announce(user, status, users_told)
  if not max_told or users_told > max_told then
    if status == 'left' then redis.call('HDEL', announced, user) end
    return
  end
  local frame = '{"event":"presence","data":{"room":' .. cjson.encode(ARGV[6]) .. ',"user":' .. cjson.encode(user)
    .. ',"status":"' .. status .. '","timestamp":"' .. ARGV[7] .. '"}}'
  redis.call(ARGV[3], ARGV[4], ARGV[5] .. 'B ' .. cjson.encode(user) .. '\\n' .. frame)
  if status == 'joined' then redis.call('HSET', announced, user, now) else record_departure(user, now) end
end
local gone = may_purge(now, ttl_ms) and purge(now, ttl_ms) or {}
local changes, expired = {}, {}
local index = 8
while index <= #ARGV do
  local changed, op = false, ARGV[index]
  if op == '+' or op == '+!' then
    local user = ARGV[index + 2]
    changed = upsert(ARGV[index + 1], user, now + ttl_ms)
    if changed and op == '+!' then announce(user, 'joined', redis.call('HLEN', users)) end
    index = index + 3
  else
    local user = redis.call('HGET', connections, ARGV[index + 1])
    changed = user and forget(ARGV[index + 1], user)
    if changed and op == '-!' then announce(user, 'left', redis.call('HLEN', users) + 1)
    -- A remove nobody is told of here (a pod's retry of one Redis did not take) is its pod's to
    -- tell; recorded, as that pod may be gone by the time Redis runs it.
    elseif changed then record_departure(user, now) end
    index = index + 2
  end
  table.insert(changes, changed and 1 or 0)
  table.insert(changes, redis.call('HLEN', users))
  if #changes == 2 then expired = still_gone(gone) end
end
keep(ttl_ms, now)
return {expired, changes}
`;

/**
 * ARGV: entry TTL ms, '1' to purge afterwards, then connection id and user pairs. Extends this
 * pod's entries and puts back any that are missing (Redis restarted, or this pod stalled past
 * the TTL). A big room is refreshed in slices; only the last purges, once every entry of this
 * pod is fresh, so a slice never reports this pod's own not-yet-refreshed users as gone.
 */
const PRESENCE_REFRESH = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local purging = may_purge(now, ttl_ms) and ARGV[2] == '1'
for index = 3, #ARGV, 2 do upsert(ARGV[index], ARGV[index + 1], now + ttl_ms) end
local gone = {}
if purging then gone = still_gone(purge(now, ttl_ms)) end
keep(ttl_ms, now)
return {redis.call('HLEN', users), gone}
`;

/** ARGV: entry TTL ms. Returns {live connections, {users}, {expired users}}. */
const PRESENCE_SNAPSHOT = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local gone = may_purge(now, ttl_ms) and purge(now, ttl_ms) or {}
empty_without_clock()
keep_departures(now, ttl_ms)
return {redis.call('ZCARD', expiry), redis.call('HKEYS', users), gone}
`;

/** ARGV: entry TTL ms, then users. Returns {distinct users, {expired users}, {the users given who are there}}. */
const PRESENCE_PRESENT = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local gone = may_purge(now, ttl_ms) and purge(now, ttl_ms) or {}
empty_without_clock()
keep_departures(now, ttl_ms)
local present = {}
for index = 2, #ARGV do
  if redis.call('HEXISTS', users, ARGV[index]) == 1 then table.insert(present, ARGV[index]) end
end
return {redis.call('HLEN', users), gone, present}
`;

/**
 * ARGV: entry TTL ms, an age (ms), the most users a room is told of. Returns {distinct users,
 * {expired users}, {users there whose `joined` was told within that age}, {users not there
 * whose `left` was told, or whose entries expired, within it}}; the last two empty for a room
 * of more users than the most told of (no user list is read then: a crowded room's whole
 * `announced` hash, on every pod after every outage, held Redis for nothing).
 * An age, not a time: the times told are Redis's (now_ms), and pods' clocks are not trusted.
 */
const PRESENCE_UNHEARD = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local gone = may_purge(now, ttl_ms) and purge(now, ttl_ms) or {}
empty_without_clock()
local since, max_users = now - tonumber(ARGV[2]), tonumber(ARGV[3])
local count = redis.call('HLEN', users)
local told_since, departed_since = {}, {}
if count <= max_users then
  local told = redis.call('HGETALL', announced)
  for index = 1, #told, 2 do
    if tonumber(told[index + 1]) >= since and redis.call('HEXISTS', users, told[index]) == 1 then table.insert(told_since, told[index]) end
  end
  for _, user in ipairs(redis.call('ZRANGEBYSCORE', departed, since, '+inf')) do
    -- Not one who arrived since as well: nobody who missed its \`left\` heard of it.
    local joined_at = tonumber(redis.call('HGET', announced, user))
    if redis.call('HEXISTS', users, user) == 0 and not (joined_at and joined_at >= since) then table.insert(departed_since, user) end
  end
end
keep_departures(now, ttl_ms)
return {count, gone, told_since, departed_since}
`;

export interface PresenceKeys {
  expiry: string;
  connections: string;
  users: string;
  /** When a script last touched the room, and until when its grace after a stall lasts (PRESENCE_HELPERS). */
  clock: string;
  /**
   * Hash: user -> when (Redis ms) the room was last told the user `joined`, while the user is
   * there or its departure is kept (`departed`: a user who arrived after a pod lost the room and
   * left again was never heard of there). A pod that could not hear the room for a while asks it who arrived meanwhile
   * (PresenceStore.unheard's joinsToldSince): nothing else tells such an arrival from a user
   * who was there before its members joined.
   */
  announced: string;
  /**
   * Sorted set: user -> when (Redis ms) the room was told the user `left`, or the user's entries
   * expired, for DEPARTURE_TTLS entry TTLs or until the user is back. A pod that could not hear
   * the room for a while asks it who left meanwhile (PresenceStore.unheard's departedSince):
   * its members may never have been told those users `joined` (they were there first).
   */
  departed: string;
}

/** Every presence script reports the users whose last entry it found expired (their pod died). */
export interface ExpiredPresence {
  expiredUsers: string[];
  /** Distinct users in the room after the script. */
  users: number;
}

/** One add or remove of a connection's entry, in a turn's changes (heraldPresenceChanges); with `announce`, told to the room. */
export type PresenceEntryChange = { op: 'add'; connectionId: string; user: string; announce?: PresenceAnnouncement } | { op: 'remove'; connectionId: string; announce?: PresenceAnnouncement };

/** Where and how a script's announced changes are told (PresenceAnnouncement, in the script's terms). */
export interface PresenceTelling {
  maxUsers: number;
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  channel: string;
  messagePrefix: string;
  room: string;
  timestamp: string;
}

/** The changes of one turn: each one's outcome, and the expired users (reported once, with the first change's count). */
export interface PresenceChangesReply {
  changes: { userChanged: boolean; users: number }[];
  expiredUsers: string[];
}

export interface PresenceSnapshotReply extends ExpiredPresence {
  connections: number;
  userIds: string[];
}

export interface PresencePresentReply extends ExpiredPresence {
  /** The users asked about who are there. */
  present: string[];
}

export interface PresenceUnheardReply extends ExpiredPresence {
  /** The users there whose `joined` was told within the age asked (PresenceKeys.announced). */
  joinsToldSince: string[];
  /** The users not there whose departure was told within it (PresenceKeys.departed). */
  departedSince: string[];
}

/** How many keys pushPresenceKeys pushes: KEYS[1] to KEYS[PRESENCE_KEY_COUNT] of every presence script. */
export const PRESENCE_KEY_COUNT = 6;

/** A room's presence keys, as every presence script (and the personal rooms' snapshot) takes them first. */
export const pushPresenceKeys = (parser: CommandParser, keys: PresenceKeys) => {
  parser.pushKey(keys.expiry);
  parser.pushKey(keys.connections);
  parser.pushKey(keys.users);
  parser.pushKey(keys.clock);
  parser.pushKey(keys.announced);
  parser.pushKey(keys.departed);
};

export const PRESENCE_SCRIPTS = {
  heraldPresenceChanges: defineScript({
    SCRIPT: PRESENCE_CHANGES,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number, changes: Iterable<PresenceEntryChange>, telling?: PresenceTelling) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs));
      if (telling) parser.push(String(telling.maxUsers), telling.publishCommand, telling.channel, telling.messagePrefix, telling.room, telling.timestamp);
      else parser.push('', '', '', '', '', '');
      for (const change of changes) {
        const told = telling !== undefined && change.announce !== undefined;
        if (change.op === 'add') parser.push(told ? '+!' : '+', change.connectionId, change.user);
        else parser.push(told ? '-!' : '-', change.connectionId);
      }
    },
    transformReply: (reply: [string[], number[]]): PresenceChangesReply => {
      const changes: PresenceChangesReply['changes'] = [];
      for (let index = 0; index < reply[1].length; index += 2) changes.push({ userChanged: reply[1][index] === 1, users: Number(reply[1][index + 1]) });
      return { changes, expiredUsers: reply[0] };
    },
  }),
  heraldPresenceRefresh: defineScript({
    SCRIPT: PRESENCE_REFRESH,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number, entries: Iterable<[connectionId: string, user: string]>, purge: boolean) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs), purge ? '1' : '0');
      for (const [connectionId, user] of entries) parser.push(connectionId, user);
    },
    transformReply: (reply: [number, string[]]): ExpiredPresence => ({ users: Number(reply[0]), expiredUsers: reply[1] }),
  }),
  heraldPresenceSnapshot: defineScript({
    SCRIPT: PRESENCE_SNAPSHOT,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs));
    },
    transformReply: (reply: [number, string[], string[]]): PresenceSnapshotReply => ({
      connections: Number(reply[0]),
      userIds: reply[1],
      users: reply[1].length,
      expiredUsers: reply[2],
    }),
  }),
  heraldPresencePresent: defineScript({
    SCRIPT: PRESENCE_PRESENT,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number, users: readonly string[]) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs), ...users);
    },
    transformReply: (reply: [number, string[], string[]]): PresencePresentReply => ({ users: Number(reply[0]), expiredUsers: reply[1], present: reply[2] }),
  }),
  heraldPresenceUnheard: defineScript({
    SCRIPT: PRESENCE_UNHEARD,
    NUMBER_OF_KEYS: PRESENCE_KEY_COUNT,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number, joinsToldWithinMs: number, maxUsers: number) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs), String(Math.max(0, Math.ceil(joinsToldWithinMs))), String(maxUsers));
    },
    transformReply: (reply: [number, string[], string[], string[]]): PresenceUnheardReply => ({
      users: Number(reply[0]),
      expiredUsers: reply[1],
      joinsToldSince: reply[2],
      departedSince: reply[3],
    }),
  }),
};
