import { CommandParser, defineScript } from 'redis';

/**
 * The Lua scripts behind RedisBroker. Each runs atomically in Redis, so every pod agrees on a
 * room's epoch, positions and presence without locks. Times come from Redis (TIME), never from
 * pod clocks. node-redis sends them with EVALSHA and falls back to EVAL after a Redis restart
 * (NOSCRIPT).
 */

const NOW_MS = `
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
`;

/** Same shape as newEpoch() in seq.ts: 9 base-36 digits of milliseconds, then random characters. */
const NEW_EPOCH = `
local function new_epoch(ms, random_suffix)
  local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
  local text = ''
  repeat
    local digit = ms % 36
    text = string.sub(digits, digit + 1, digit + 1) .. text
    ms = math.floor(ms / 36)
  until ms == 0
  return string.rep('0', 9 - #text) .. text .. random_suffix
end
`;

/**
 * KEYS: meta, history, dedup (the meta key again when there is no dedup key).
 * ARGV: channel, event, body JSON, history size, history TTL s, epoch suffix, '1' to de-duplicate.
 * Returns nil for a duplicate, else {epoch, position}.
 *
 * The epoch is created whenever the meta hash is missing: first publish, expiry after
 * HISTORY_TTL_S of silence, or a Redis that lost its data. Nothing of the old stream is kept,
 * so a `since` from before can never be answered with `recovered: true`.
 * The channel payload is `P <epoch> <position> <publishedAtMs> <event>\n<body JSON>`.
 */
const PUBLISH = `${NOW_MS}${NEW_EPOCH}
local meta, history, dedup = KEYS[1], KEYS[2], KEYS[3]
local channel, event, body = ARGV[1], ARGV[2], ARGV[3]
local size, ttl_s = tonumber(ARGV[4]), tonumber(ARGV[5])
local deduplicate = ARGV[7] == '1'
if deduplicate and redis.call('EXISTS', dedup) == 1 then return nil end
local now = now_ms()
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = new_epoch(now, ARGV[6])
  redis.call('DEL', history)
  redis.call('HSET', meta, 'epoch', epoch, 'position', 0)
end
local position = redis.call('HINCRBY', meta, 'position', 1)
redis.call('XADD', history, 'MAXLEN', '~', size, position .. '-0', 'e', event, 't', now, 'b', body)
redis.call('EXPIRE', meta, ttl_s)
redis.call('EXPIRE', history, ttl_s)
if deduplicate then redis.call('SET', dedup, '1', 'EX', ttl_s) end
redis.call('PUBLISH', channel, 'P ' .. epoch .. ' ' .. position .. ' ' .. now .. ' ' .. event .. '\\n' .. body)
return {epoch, position}
`;

/**
 * KEYS: meta, history. ARGV: since epoch, since position ('' for none), history size.
 * Returns {} when the room has no history, else {epoch, latest position, now ms[, entries]}
 * with the raw stream entries after `since` when they can possibly cover the gap.
 */
const HISTORY = `${NOW_MS}
local meta, history = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then return {} end
local latest = tonumber(redis.call('HGET', meta, 'position'))
local now = now_ms()
if ARGV[2] == '' or ARGV[1] ~= epoch then return {epoch, latest, now} end
local since, size = tonumber(ARGV[2]), tonumber(ARGV[3])
if since >= latest or latest - since > size then return {epoch, latest, now} end
return {epoch, latest, now, redis.call('XRANGE', history, (since + 1) .. '-0', latest .. '-0')}
`;

/**
 * Presence: per room, a sorted set of connection ids scored by expiry (Redis ms), a hash
 * connection -> user and a hash user -> live connection count. Every script first forgets the
 * entries that expired (pods that died without cleaning up), so counts are always current.
 */
const PRESENCE_HELPERS = `${NOW_MS}
local expiry, connections, users = KEYS[1], KEYS[2], KEYS[3]
local function forget(id, user)
  redis.call('ZREM', expiry, id)
  redis.call('HDEL', connections, id)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    return true
  end
  return false
end
-- Returns the users whose last connection just expired.
local function purge(now)
  local gone = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
    local user = redis.call('HGET', connections, id)
    if not user then redis.call('ZREM', expiry, id)
    elseif forget(id, user) then table.insert(gone, user) end
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
  return redis.call('HINCRBY', users, user, 1) == 1
end
local function keep(ttl_ms)
  redis.call('PEXPIRE', expiry, ttl_ms)
  redis.call('PEXPIRE', connections, ttl_ms)
  redis.call('PEXPIRE', users, ttl_ms)
end
`;

/**
 * ARGV: connection id, user, entry TTL ms.
 * Returns {1 if the user's first connection, distinct users, {users whose entries expired}}.
 */
const PRESENCE_ADD = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[3])
local gone = purge(now)
local first = upsert(ARGV[1], ARGV[2], now + ttl_ms)
keep(ttl_ms)
return {first and 1 or 0, redis.call('HLEN', users), still_gone(gone)}
`;

/** ARGV: connection id. Returns {1 if it was the user's last connection, distinct users, {expired users}}. */
const PRESENCE_REMOVE = `${PRESENCE_HELPERS}
local gone = purge(now_ms())
local user = redis.call('HGET', connections, ARGV[1])
local last = user and forget(ARGV[1], user)
return {last and 1 or 0, redis.call('HLEN', users), gone}
`;

/**
 * ARGV: entry TTL ms, then connection id and user pairs. Extends this pod's entries and puts
 * back any that are missing (Redis restarted, or this pod stalled past the TTL).
 */
const PRESENCE_REFRESH = `${PRESENCE_HELPERS}
local now, ttl_ms = now_ms(), tonumber(ARGV[1])
local gone = purge(now)
for index = 2, #ARGV, 2 do upsert(ARGV[index], ARGV[index + 1], now + ttl_ms) end
keep(ttl_ms)
return {redis.call('HLEN', users), still_gone(gone)}
`;

/** Returns {live connections, {users}, {expired users}}. */
const PRESENCE_SNAPSHOT = `${PRESENCE_HELPERS}
local gone = purge(now_ms())
return {redis.call('ZCARD', expiry), redis.call('HKEYS', users), gone}
`;

export interface RoomKeys {
  meta: string;
  history: string;
}

export interface PresenceKeys {
  expiry: string;
  connections: string;
  users: string;
}

export interface StoredPublication {
  position: number;
  event: string;
  publishedAtMs: number;
  body: string;
}

export interface RoomHistoryReply {
  epoch: string;
  latestPosition: number;
  /** Redis time of the read. */
  nowMs: number;
  /** Entries after `since`, oldest first; absent when they cannot cover the gap. */
  entries: StoredPublication[] | undefined;
}

/** Every presence script reports the users whose last entry it found expired (their pod died). */
export interface ExpiredPresence {
  expiredUsers: string[];
  /** Distinct users in the room after the script. */
  users: number;
}

export interface PresenceChangeReply extends ExpiredPresence {
  /** First connection of the user (add) or its last (remove). */
  userChanged: boolean;
}

export interface PresenceSnapshotReply extends ExpiredPresence {
  connections: number;
  userIds: string[];
}

type RawStreamEntry = [id: string, fields: string[]];

function storedPublication([id, fields]: RawStreamEntry): StoredPublication {
  const values: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) values[fields[index]] = fields[index + 1];
  return { position: Number(id.slice(0, id.indexOf('-'))), event: values.e, publishedAtMs: Number(values.t), body: values.b };
}

const presenceChange = (reply: [number, number, string[]]): PresenceChangeReply => ({
  userChanged: reply[0] === 1,
  users: Number(reply[1]),
  expiredUsers: reply[2],
});

const pushPresenceKeys = (parser: CommandParser, keys: PresenceKeys) => {
  parser.pushKey(keys.expiry);
  parser.pushKey(keys.connections);
  parser.pushKey(keys.users);
};

export const REDIS_SCRIPTS = {
  heraldPublish: defineScript({
    SCRIPT: PUBLISH,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: RoomKeys, dedupKey: string | undefined, args: { channel: string; event: string; body: string; historySize: number; historyTtlS: number; epochSuffix: string }) {
      parser.pushKey(keys.meta);
      parser.pushKey(keys.history);
      parser.pushKey(dedupKey ?? keys.meta);
      parser.push(args.channel, args.event, args.body, String(args.historySize), String(args.historyTtlS), args.epochSuffix, dedupKey === undefined ? '0' : '1');
    },
    transformReply: (reply: [string, number] | null): { epoch: string; position: number } | null =>
      reply === null ? null : { epoch: reply[0], position: Number(reply[1]) },
  }),
  heraldHistory: defineScript({
    SCRIPT: HISTORY,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: RoomKeys, since: { epoch: string; position: number } | undefined, historySize: number) {
      parser.pushKey(keys.meta);
      parser.pushKey(keys.history);
      parser.push(since?.epoch ?? '', since === undefined ? '' : String(since.position), String(historySize));
    },
    transformReply: (reply: [] | [string, number, number, RawStreamEntry[]?]): RoomHistoryReply | null =>
      reply.length === 0
        ? null
        : { epoch: reply[0], latestPosition: Number(reply[1]), nowMs: Number(reply[2]), entries: reply[3]?.map(storedPublication) },
  }),
  heraldPresenceAdd: defineScript({
    SCRIPT: PRESENCE_ADD,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: PresenceKeys, connectionId: string, user: string, ttlMs: number) {
      pushPresenceKeys(parser, keys);
      parser.push(connectionId, user, String(ttlMs));
    },
    transformReply: presenceChange,
  }),
  heraldPresenceRemove: defineScript({
    SCRIPT: PRESENCE_REMOVE,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: PresenceKeys, connectionId: string) {
      pushPresenceKeys(parser, keys);
      parser.push(connectionId);
    },
    transformReply: presenceChange,
  }),
  heraldPresenceRefresh: defineScript({
    SCRIPT: PRESENCE_REFRESH,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: PresenceKeys, ttlMs: number, entries: Iterable<[connectionId: string, user: string]>) {
      pushPresenceKeys(parser, keys);
      parser.push(String(ttlMs));
      for (const [connectionId, user] of entries) parser.push(connectionId, user);
    },
    transformReply: (reply: [number, string[]]): ExpiredPresence => ({ users: Number(reply[0]), expiredUsers: reply[1] }),
  }),
  heraldPresenceSnapshot: defineScript({
    SCRIPT: PRESENCE_SNAPSHOT,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: PresenceKeys) {
      pushPresenceKeys(parser, keys);
    },
    transformReply: (reply: [number, string[], string[]]): PresenceSnapshotReply => ({
      connections: Number(reply[0]),
      userIds: reply[1],
      users: reply[1].length,
      expiredUsers: reply[2],
    }),
  }),
};
