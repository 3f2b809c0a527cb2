import { CommandParser, defineScript, ErrorReply } from 'redis';
import { EPOCH_TIME_DIGITS } from '../seq';
import { INBOX_INDEX, InboxKeys } from './inbox.scripts';
import { NOW_MS } from './lua';

/**
 * The Lua scripts behind RedisBroker (publish, history, publish-id claims, extending rooms'
 * history lives). Each runs atomically in Redis, so every pod agrees on a room's epoch and
 * positions without locks. Every key a script touches shares the room's hash tag
 * (redis-keys.ts), so each runs on one slot. Times come from Redis (TIME), never from pod clocks.
 */

/** Same shape as newEpoch() in seq.ts: base-36 milliseconds, then the random suffix. */
const NEW_EPOCH = `
local function new_epoch(ms, random_suffix)
  local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
  local text = ''
  repeat
    local digit = ms % 36
    text = string.sub(digits, digit + 1, digit + 1) .. text
    ms = math.floor(ms / 36)
  until ms == 0
  return string.rep('0', ${EPOCH_TIME_DIGITS} - #text) .. text .. random_suffix
end

-- The replication history this server writes in (INFO's master_replid), and the one it continued
-- (master_replid2). A replica promoted in a failover takes a new one, may lack the last writes of
-- the primary it replaced, and keeps that primary's as its second: it holds that history up to
-- where it took over. A primary restarted from its RDB or AOF, or a node a Cluster slot moved to,
-- continues none that the room was written in.
local function replication_ids()
  local info = redis.call('INFO', 'replication')
  return string.match(info, 'master_replid:(%w+)') or '', string.match(info, 'master_replid2:(%w+)') or ''
end

-- The time part of a new life's epoch: this server's clock, unless the life it replaces (when
-- known) started at or after that: a promoted replica's clock may be behind its old primary's,
-- and seqs must still increase (section 4; clients compare them as strings).
local function epoch_time_after(now, previous)
  if not previous then return now end
  local previous_ms = tonumber(string.sub(previous, 1, ${EPOCH_TIME_DIGITS}), 36)
  if previous_ms and previous_ms >= now then return previous_ms + 1 end
  return now
end

-- The room's current epoch; a room without one (first use, expired, lost) starts a new life,
-- after \`previous\` when the caller knows the life it replaces. Its history goes, unless
-- \`keep_history\`: a failover's new life keeps the old life's entries this server held (each
-- names its epoch), which a \`since\` from before the takeover reads across (see HISTORY).
-- The stream earlier versions kept goes too: their pods, during a rolling update, append to it
-- with explicit positions, which a stream left from the previous life would refuse (500s that
-- used up positions), and they would replay its stale entries.
local function room_epoch(meta, history, legacy_stream, now, random_suffix, previous, keep_history)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = new_epoch(epoch_time_after(now, previous), random_suffix)
    if keep_history then redis.call('DEL', legacy_stream) else redis.call('DEL', history, legacy_stream) end
    redis.call('HSET', meta, 'epoch', epoch, 'position', 0)
  end
  return epoch
end

-- The room's life in this server's replication history (replication_ids): a room last written in
-- another one (a failover, a restart from disk, a Cluster slot move) starts a new life, as below.
-- Last written in another replication history: positions past what this server holds may have
-- been handed out (and delivered) there, and a publish would reuse them, so a \`since\` taken
-- from a lost write would read as up to date. A new life instead: every older \`since\` answers
-- recovered: false, but one from where a failover's new life took over or before (see HISTORY).
-- (A room written before pods recorded it adopts this history.) The new life's seqs still sort
-- after the old one's, whatever this server's clock says.
-- When this server continued the history the room was written in (a failover's promoted
-- replica), the new life records where the old one ended here (\`after\`, see HISTORY); after a
-- restart from disk, which may have lost acknowledged writes, it records nothing.
-- A read (\`reading\`) leaves a failover's new life to the first publish (written in the history
-- this server continued): until then the deposed primary may still run writes it had queued and
-- publish them in the old life, which a pod that had already moved to the new life would pass
-- on and then see again as their retries (the fault drill's Cluster run found it). A read does
-- start the new life of a room from any other history (a restart from disk, a slot move), which
-- no old server writes to any more, and whose restored life would otherwise answer a \`since\`
-- from before the lost writes as recovered.
local function room_life(meta, history, legacy_stream, now, random_suffix, replid, continued_replid, reading)
  local written_in = redis.call('HGET', meta, 'replid')
  if reading and written_in and written_in == continued_replid then return room_epoch(meta, history, legacy_stream, now, random_suffix) end
  local previous_epoch, previous_position = false, false
  if written_in and written_in ~= replid then
    local previous = redis.call('HMGET', meta, 'epoch', 'position')
    previous_epoch = previous[1]
    if written_in == continued_replid then previous_position = previous[2] end
    redis.call('DEL', meta)
  end
  local epoch = room_epoch(meta, history, legacy_stream, now, random_suffix, previous_epoch, previous_position ~= false)
  if written_in ~= replid then redis.call('HSET', meta, 'replid', replid) end
  if previous_epoch and previous_position then redis.call('HSET', meta, 'after', previous_epoch .. ' ' .. previous_position) end
  return epoch
end
`;

/**
 * Publishes a group of notifications, each to one room, in order, in one call: the notifications
 * a pod hands over in one event-loop turn (TurnGroups), all in one slot on a Cluster. Each
 * is published exactly as it would be alone (one failing, even halfway, leaves the others
 * alone); what they share is read once: the time, the replication history (INFO: about a fifth
 * of a lone publish's Redis time) and the call itself.
 *
 * KEYS, 7 per notification: meta, history, dedup (the meta key again when there is no dedup
 * key), inbox, inbox read set (the meta key again for rooms that are not personal), the earlier
 * versions' stream, inbox index (INBOX_INDEX; the meta key again for rooms that are not personal).
 * ARGV: history size, history TTL s, epoch suffix, inbox size, inbox TTL s, the publish command
 * (PUBLISH, or SPUBLISH on a Cluster: the channel then shares the room's hash tag); then 7 per
 * notification: channel, what the channel message starts with ('', or `@<room>\n` on a channel
 * several rooms share), event, body JSON, '1' to de-duplicate, the request's fingerprint, '1'
 * to write the user's inbox.
 * Returns one reply per notification: 'duplicate' or 'conflict' (the dedup key was seen with
 * another fingerprint) when nothing was published, {epoch, position} when it was, or `!` and
 * the error it failed with. The dedup key holds the fingerprint.
 *
 * The history is a list, newest first, of `<epoch> <position> <publishedAtMs> <event> <body JSON>`
 * (historyEntry), trimmed to HISTORY_SIZE: a room's positions are handed out in this script
 * only, so its entries run without gaps from the newest down, and the publications after a
 * position are the list's first `latest - position` entries. Each names its epoch, so an entry
 * a new life did not delete (a pod of an earlier version, which kept history elsewhere, started
 * it) can never pass for one of the same position in the new life. Not a stream: Redis gives every new
 * stream a 4 KB node up front, so each room published to (a user's personal room, for every user
 * notified within HISTORY_TTL_S) took about 4.7 KB of Redis memory for its first message, and
 * creating one cost more Redis time than the rest of the publish; a short list is sized to fit.
 *
 * The epoch is created whenever the meta hash is missing: first use, expiry after
 * HISTORY_TTL_S of silence, or a Redis that lost its data; and when the room was last written in
 * another replication history than this server's (a failover: see the script). Nothing of the old
 * history is kept, unless this server continued the replication history the room was written in (a
 * failover's promoted replica): then the new life records where the old one ended here (`after`),
 * which HISTORY answers, and keeps the old life's entries: a `since` from the old life at or before
 * there reads what followed it there, then this life from its start; any other `since` from
 * before can never be answered with `recovered: true`.
 * The channel payload is `[@<room>\n]P <epoch> <position> <publishedAtMs> <event>\n<body JSON>`.
 * A notification to a personal room is also pushed on the user's inbox list in the same step,
 * as `<storedAtMs> <epoch> <position> <body JSON>`, so inbox and history never disagree, with
 * its index entry; the read marks of items trimmed off the end go with them.
 */
const PUBLISH = `${NOW_MS}${NEW_EPOCH}${INBOX_INDEX}
local size, ttl_s, epoch_suffix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local inbox_size, inbox_ttl_s, publish_command = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local now = now_ms()
local replid, continued_replid = replication_ids()

-- The notification whose keys follow KEYS[k] and whose arguments follow ARGV[a].
local function publish_one(k, a)
  local meta, history, dedup = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local channel, message_prefix, event, body = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local deduplicate, fingerprint = ARGV[a + 5] == '1', ARGV[a + 6]
  if deduplicate then
    local seen = redis.call('GET', dedup)
    -- '1' is what pods from before fingerprints wrote (during a rolling update): it matches any.
    if seen then return (seen == fingerprint or seen == '1') and 'duplicate' or 'conflict' end
  end
  local epoch = room_life(meta, history, KEYS[k + 6], now, epoch_suffix, replid, continued_replid)
  local position = redis.call('HINCRBY', meta, 'position', 1)
  if redis.call('LPUSH', history, epoch .. ' ' .. position .. ' ' .. now .. ' ' .. event .. ' ' .. body) > size then
    redis.call('LTRIM', history, 0, size - 1)
  end
  redis.call('EXPIRE', meta, ttl_s)
  redis.call('EXPIRE', history, ttl_s)
  if deduplicate then redis.call('SET', dedup, fingerprint, 'EX', ttl_s) end
  if ARGV[a + 7] == '1' and inbox_size > 0 then
    local inbox, read, index = KEYS[k + 4], KEYS[k + 5], KEYS[k + 7]
    inbox_index_ready(inbox, index)
    redis.call('LPUSH', inbox, now .. ' ' .. epoch .. ' ' .. position .. ' ' .. body)
    redis.call('LPUSH', index, index_entry(now, epoch, position, body_id(body)))
    local dropped = redis.call('LRANGE', index, inbox_size, -1)
    if #dropped > 0 then
      redis.call('LTRIM', inbox, 0, inbox_size - 1)
      redis.call('LTRIM', index, 0, inbox_size - 1)
      for _, entry in ipairs(dropped) do
        local stored, dropped_epoch, dropped_position, id = index_summary(entry)
        if stored > 0 then redis.call('SREM', read, read_mark(dropped_epoch, dropped_position), id) end
      end
    end
    redis.call('EXPIRE', inbox, inbox_ttl_s)
    redis.call('EXPIRE', index, inbox_ttl_s)
    if redis.call('EXISTS', read) == 1 then redis.call('EXPIRE', read, inbox_ttl_s) end
  end
  redis.call(publish_command, channel, message_prefix .. 'P ' .. epoch .. ' ' .. position .. ' ' .. now .. ' ' .. event .. '\\n' .. body)
  return {epoch, position}
end

local replies = {}
for item = 0, #KEYS / 7 - 1 do
  local ok, reply = pcall(publish_one, 7 * item, 6 + 7 * item)
  -- A command that failed (out of memory, a wrong type) fails its notification only.
  if not ok then reply = '!' .. (type(reply) == 'table' and tostring(reply.err) or tostring(reply)) end
  replies[item + 1] = reply
end
return replies
`;

/**
 * KEYS: meta, history, the earlier versions' stream. ARGV: since epoch, since position ('' for none), history size, epoch
 * suffix, history TTL s, '1' when a read may start a new life (readsStartLives).
 * Returns {epoch, latest position, now ms, after[, entries]} with the raw history entries after
 * `since`, newest first, when they can possibly cover the gap; `after` is where the life this one
 * replaced in a failover ended on this server (`<epoch> <position>`, '' when it replaced none). A
 * `since` in that life at or before there gets the old life's entries after it, then this life's
 * from its start (the caller decides whether that proves continuity: REDIS_MIN_REPLICAS). A room
 * without history starts its history life here
 * (position 0), so the seq a join hands out for an empty room is one a later `since` can
 * recover from; each read keeps that life going for another HISTORY_TTL_S. A room last written
 * in another replication history, other than one this server continued (a failover's, which
 * the first publish ends), starts a new life here, as a publish would (room_life): after a
 * restart from an older snapshot, the restored life would otherwise answer a `since` from before
 * the lost writes `recovered: true`, replaying up to where the snapshot ends. Not on a Cluster
 * (readsStartLives off), where reads leave every new life to the first publish as they always
 * did: with reads starting them, the fault drill's Cluster run delivered a paused primary's late
 * writes and then their retries, in two of five runs, for reasons not found yet.
 */
const HISTORY = `${NOW_MS}${NEW_EPOCH}
local meta, history = KEYS[1], KEYS[2]
local now = now_ms()
local epoch
if ARGV[6] == '1' then
  local replid, continued_replid = replication_ids()
  epoch = room_life(meta, history, KEYS[3], now, ARGV[4], replid, continued_replid, true)
else
  epoch = room_epoch(meta, history, KEYS[3], now, ARGV[4])
end
redis.call('EXPIRE', meta, ARGV[5])
local state = redis.call('HMGET', meta, 'position', 'after')
local latest, after = tonumber(state[1]), state[2] or ''
if ARGV[2] == '' then return {epoch, latest, now, after} end
local since, size = tonumber(ARGV[2]), tonumber(ARGV[3])
local count = latest - since
if ARGV[1] ~= epoch then
  -- A \`since\` in the life a failover replaced, at or before where this one took over: what
  -- followed it there, then this life from its start (the caller checks they run without gaps).
  local after_epoch, after_position = string.match(after, '^(%S+) (%d+)$')
  if ARGV[1] ~= after_epoch or since > tonumber(after_position) then return {epoch, latest, now, after} end
  count = tonumber(after_position) - since + latest
end
if count <= 0 or count > size then return {epoch, latest, now, after} end
return {epoch, latest, now, after, redis.call('LRANGE', history, 0, count - 1)}
`;

/**
 * KEYS: any number of rooms' meta keys. ARGV: history TTL s. Returns, per key, {epoch, latest
 * position}, or {false, false} for a room without history. Unlike HISTORY it starts no life, so
 * following a room that never carries a message (a personal room) leaves nothing in Redis; a
 * life it finds is extended for another HISTORY_TTL_S, as a pod's followed rooms are (RoomLives):
 * one near its end otherwise lapsed under its new follower before its first extension, and the
 * next publish's new life read as a lost one (a `recovery` for nothing).
 */
const LATEST_POSITIONS = `
local latest = {}
for index, meta in ipairs(KEYS) do
  latest[index] = redis.call('HMGET', meta, 'epoch', 'position')
  if latest[index][1] then redis.call('EXPIRE', meta, ARGV[1]) end
end
return latest
`;

/**
 * KEYS: publish ids' keys (the same key may come twice). ARGV: TTL s, then each key's fingerprint.
 * Binds each id to its fingerprint if unbound, in order; returns 'first', 'repeat' or
 * 'conflict' for each, as if claimed one after the other.
 */
const CLAIM_PUBLISH_IDS = `
local claims = {}
for index, key in ipairs(KEYS) do
  local fingerprint = ARGV[index + 1]
  local bound = redis.call('GET', key)
  if not bound then
    redis.call('SET', key, fingerprint, 'EX', ARGV[1])
    claims[index] = 'first'
  else
    claims[index] = bound == fingerprint and 'repeat' or 'conflict'
  end
end
return claims
`;

/**
 * KEYS: any number of rooms' meta keys. ARGV: history TTL s.
 * Extends each room's history life for another HISTORY_TTL_S from now; a room without one (never
 * started, expired, lost) stays without: a life is started only by a publish or a read, so this
 * never brings back an epoch whose history may be gone. Keeps the epoch alone: its history expires
 * HISTORY_TTL_S after its last publication, when every entry in it is too old to replay anyway.
 */
const EXTEND_ROOM_LIVES = `
for _, meta in ipairs(KEYS) do redis.call('EXPIRE', meta, ARGV[1]) end
return #KEYS
`;

export interface RoomKeys {
  meta: string;
  history: string;
  /** The stream earlier versions kept history in (RedisKeys.legacyHistoryStream): deleted with each new life. */
  legacyStream: string;
}

/** A room's history life and its latest position. */
export interface RoomLatest {
  epoch: string;
  latestPosition: number;
}

export interface StoredPublication {
  /** The history life it was written in: only entries of the room's current epoch count. */
  epoch: string;
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
  /** Entries after `since`, oldest first; absent when they cannot cover the gap. The caller checks they run without gaps. */
  entries: StoredPublication[] | undefined;
  /** Where the life this one replaced in a failover ended on this server; undefined when it replaced none. */
  after: RoomLatest | undefined;
}

/** HISTORY's `after`: `<epoch> <position>`, or '' for none. */
function lifeEnd(after: string): RoomLatest | undefined {
  const space = after.indexOf(' ');
  return space > 0 ? { epoch: after.slice(0, space), latestPosition: Number(after.slice(space + 1)) } : undefined;
}

/** A history entry as the publish script writes it: `<epoch> <position> <publishedAtMs> <event> <body JSON>`. */
export function historyEntry({ epoch, position, publishedAtMs, event, body }: StoredPublication): string {
  return `${epoch} ${position} ${publishedAtMs} ${event} ${body}`;
}

/** Reads historyEntry's text back; undefined for anything else (a key written by something else). */
export function storedPublication(entry: string): StoredPublication | undefined {
  const afterEpoch = entry.indexOf(' ');
  const afterPosition = entry.indexOf(' ', afterEpoch + 1);
  const afterTime = entry.indexOf(' ', afterPosition + 1);
  const afterEvent = entry.indexOf(' ', afterTime + 1);
  if (afterEpoch <= 0 || afterPosition < 0 || afterTime < 0 || afterEvent < 0) return undefined;
  const position = Number(entry.slice(afterEpoch + 1, afterPosition));
  const publishedAtMs = Number(entry.slice(afterPosition + 1, afterTime));
  if (!Number.isSafeInteger(position) || !Number.isFinite(publishedAtMs)) return undefined;
  return { epoch: entry.slice(0, afterEpoch), position, publishedAtMs, event: entry.slice(afterTime + 1, afterEvent), body: entry.slice(afterEvent + 1) };
}

/** The script's entries (newest first) as publications, oldest first; entries it cannot read are left out. */
function oldestFirst(entries: readonly string[]): StoredPublication[] {
  const publications: StoredPublication[] = [];
  for (let index = entries.length - 1; index >= 0; index--) {
    const publication = storedPublication(entries[index]);
    if (publication) publications.push(publication);
  }
  return publications;
}

/** One notification of a publish group, as the publish script takes it. */
export interface GroupedPublish {
  keys: RoomKeys;
  /** Only for a notification the caller gave an id. */
  dedupKey: string | undefined;
  /** Only for a personal room's notification, also kept in its user's inbox. */
  inbox: InboxKeys | undefined;
  channel: string;
  /** '' or `@<room>\n`: RedisKeys.sharedMessagePrefix. */
  messagePrefix: string;
  event: string;
  body: string;
  fingerprint: string;
}

/** What every notification of a publish group shares. */
export interface PublishGroupSettings {
  pubsub: 'classic' | 'sharded';
  historySize: number;
  historyTtlS: number;
  epochSuffix: string;
  inboxSize: number;
  inboxTtlS: number;
}

/** A publish id to claim (its key) for a request's fingerprint. */
export interface PublishIdClaimKey {
  key: string;
  fingerprint: string;
}

/** One notification's outcome in its group: stored at a position, a repeat of its id, or failed alone. */
export type PublishReply = { epoch: string; position: number } | 'duplicate' | 'conflict' | ErrorReply;

export const ROOM_SCRIPTS = {
  heraldPublish: defineScript({
    SCRIPT: PUBLISH,
    // No fixed NUMBER_OF_KEYS: the count goes first, then the keys (EVALSHA sha numkeys key...).
    parseCommand(parser: CommandParser, group: readonly GroupedPublish[], shared: PublishGroupSettings) {
      parser.push(String(7 * group.length));
      for (const { keys, dedupKey, inbox } of group) {
        parser.pushKey(keys.meta);
        parser.pushKey(keys.history);
        parser.pushKey(dedupKey ?? keys.meta);
        parser.pushKey(inbox?.items ?? keys.meta);
        parser.pushKey(inbox?.read ?? keys.meta);
        parser.pushKey(keys.legacyStream);
        parser.pushKey(inbox?.index ?? keys.meta);
      }
      parser.push(String(shared.historySize), String(shared.historyTtlS), shared.epochSuffix, String(shared.inboxSize), String(shared.inboxTtlS), shared.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH');
      for (const item of group) {
        parser.push(item.channel, item.messagePrefix, item.event, item.body, item.dedupKey === undefined ? '0' : '1', item.fingerprint, item.inbox === undefined ? '0' : '1');
      }
    },
    transformReply: (replies: Array<[string, number] | string>): PublishReply[] =>
      replies.map((reply) => {
        if (typeof reply !== 'string') return { epoch: reply[0], position: Number(reply[1]) };
        if (reply === 'duplicate' || reply === 'conflict') return reply;
        return new ErrorReply(reply.slice(1));
      }),
  }),
  heraldExtendRoomLives: defineScript({
    SCRIPT: EXTEND_ROOM_LIVES,
    // No fixed NUMBER_OF_KEYS: the count goes first, then the keys (EVALSHA sha numkeys key...).
    parseCommand(parser: CommandParser, metaKeys: readonly string[], historyTtlS: number) {
      parser.push(String(metaKeys.length));
      for (const key of metaKeys) parser.pushKey(key);
      parser.push(String(historyTtlS));
    },
    transformReply: (reply: number) => reply,
  }),
  heraldClaimPublishIds: defineScript({
    SCRIPT: CLAIM_PUBLISH_IDS,
    // No fixed NUMBER_OF_KEYS: the count goes first, then the keys (EVALSHA sha numkeys key...).
    parseCommand(parser: CommandParser, claims: readonly PublishIdClaimKey[], ttlS: number) {
      parser.push(String(claims.length));
      for (const { key } of claims) parser.pushKey(key);
      parser.push(String(ttlS));
      for (const { fingerprint } of claims) parser.push(fingerprint);
    },
    transformReply: (reply: Array<'first' | 'repeat' | 'conflict'>) => reply,
  }),
  heraldLatestPositions: defineScript({
    SCRIPT: LATEST_POSITIONS,
    // No fixed NUMBER_OF_KEYS: the count goes first, then the keys (EVALSHA sha numkeys key...).
    parseCommand(parser: CommandParser, metaKeys: readonly string[], historyTtlS: number) {
      parser.push(String(metaKeys.length));
      for (const key of metaKeys) parser.pushKey(key);
      parser.push(String(historyTtlS));
    },
    transformReply: (reply: Array<[string | null, string | null]>): Array<RoomLatest | null> =>
      reply.map(([epoch, position]) => (epoch === null || position === null ? null : { epoch, latestPosition: Number(position) })),
  }),
  heraldHistory: defineScript({
    SCRIPT: HISTORY,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: RoomKeys, since: { epoch: string; position: number } | undefined, window: { historySize: number; historyTtlS: number; epochSuffix: string; readsStartLives: boolean }) {
      parser.pushKey(keys.meta);
      parser.pushKey(keys.history);
      parser.pushKey(keys.legacyStream);
      parser.push(since?.epoch ?? '', since === undefined ? '' : String(since.position), String(window.historySize), window.epochSuffix, String(window.historyTtlS), window.readsStartLives ? '1' : '0');
    },
    transformReply: (reply: [] | [string, number, number, string, string[]?]): RoomHistoryReply | null =>
      reply.length === 0 ? null : { epoch: reply[0], latestPosition: Number(reply[1]), nowMs: Number(reply[2]), after: lifeEnd(reply[3]), entries: reply[4] && oldestFirst(reply[4]) },
  }),
};
