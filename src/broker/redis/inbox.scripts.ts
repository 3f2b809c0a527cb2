import { CommandParser, defineScript } from 'redis';
import { POSITION_WIDTH } from '../seq';
import { NOW_MS } from './lua';
import type { InboxItemState } from '../inbox.store';

/**
 * The Lua scripts behind RedisInboxStore. The inbox is written by the publish script
 * (room.scripts.ts), in the same step as the room's history; these read it and mark items read.
 */

/**
 * The inbox's index (KEYS inbox, read set, index): one short entry per item, `<storedAtMs>
 * <epoch> <position> <id>`, in the items' order, so reads and marks walk ids, not bodies.
 * Loading a 13 MB inbox of big notifications into a script cost Redis about 130 ms (the copy
 * alone), for a read of one item, and any user may read their inbox as often as they like.
 *
 * A body's id is read off its front (NotificationsService writes `id` first) unless it has
 * escapes or the body does not start so; then the body is decoded whole.
 *
 * inbox_index_ready() rebuilds the index when it does not match the items (an inbox written
 * by a pod of an earlier version, which kept no index; or one whose index expired or was
 * lost): once, at the old cost. An unreadable item gets an entry stored at 0, never live, so
 * the two lists stay aligned.
 */
export const INBOX_INDEX = `
local ID_FIRST = '{"id":"([^"\\\\]*)"'
local function decoded_id(json)
  local ok, item = pcall(cjson.decode, json)
  if ok and type(item) == 'table' and type(item.id) == 'string' then return item.id end
end
local function body_id(json)
  return string.match(json, '^' .. ID_FIRST) or decoded_id(json)
end
local function index_entry(stored, epoch, position, id)
  if not id then return '0 - 0 ' end
  return stored .. ' ' .. epoch .. ' ' .. position .. ' ' .. id
end
-- The index entry of an inbox item (<storedAtMs> <epoch> <position> <body JSON>), read off its front when its id comes first.
local function item_index_entry(item)
  local stored, epoch, position, id = string.match(item, '^(%d+) (%S+) (%d+) ' .. ID_FIRST)
  if stored then return index_entry(stored, epoch, position, id) end
  local json
  stored, epoch, position, json = string.match(item, '^(%d+) (%S+) (%d+) (.*)$')
  return index_entry(stored, epoch, position, stored and decoded_id(json))
end
local function index_head_matches(inbox, index)
  local length = redis.call('LLEN', inbox)
  if redis.call('LLEN', index) ~= length then return false end
  if length == 0 then return true end
  return redis.call('LINDEX', index, 0) == item_index_entry(redis.call('LINDEX', inbox, 0))
end
local function inbox_index_ready(inbox, index)
  if index_head_matches(inbox, index) then return end
  redis.call('DEL', index)
  for _, item in ipairs(redis.call('LRANGE', inbox, 0, -1)) do redis.call('RPUSH', index, item_index_entry(item)) end
  local ttl = redis.call('PTTL', inbox)
  if ttl > 0 then redis.call('PEXPIRE', index, ttl) end
end
-- An index entry's time (0 for an unreadable item, never live), epoch, position and id.
local function index_summary(entry)
  local stored, epoch, position, id = string.match(entry, '^(%d+) (%S+) (%d+) (.*)$')
  return tonumber(stored) or 0, epoch, position, id
end
-- An item's member of the read set: its seq, not its id, so each item has a mark of its own. A
-- notification published again with the same id (after its de-duplication window) is a new item,
-- unread, as in the memory store; a mark by id made it look read, and trimming the older copy
-- then made it unread again.
local function read_mark(epoch, position)
  return '#' .. epoch .. ' ' .. position
end
-- Read: marked by seq, or by id (the marks of versions before read_mark, kept until trimmed).
local function is_read(read, epoch, position, id)
  return redis.call('SISMEMBER', read, read_mark(epoch, position)) == 1 or redis.call('SISMEMBER', read, id) == 1
end
`;

/**
 * Seqs in the index: an entry holds its epoch and its position without the padding (seq.ts);
 * seqs compare in byte order (they are built to), and Lua's own < on strings follows the locale.
 */
const INBOX_SEQ = `
local function bytes_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function seq_of(epoch, position)
  return epoch .. '-' .. string.rep('0', ${POSITION_WIDTH} - #position) .. position
end
`;

/**
 * KEYS: inbox, read set, index. ARGV: item TTL ms, limit, before (a seq, or '' for the newest).
 * Returns {now ms, unread count, the page's entries newest first, 1 or 0 for each (read or not),
 * 1 when older live items follow the page}. The page is made here from the index (INBOX_INDEX),
 * and only its items are read: what a read costs does not grow with the inbox's bodies.
 */
const INBOX_READ = `${NOW_MS}${INBOX_INDEX}${INBOX_SEQ}
local inbox, read, index = KEYS[1], KEYS[2], KEYS[3]
inbox_index_ready(inbox, index)
local oldest = now_ms() - tonumber(ARGV[1])
local limit, before = tonumber(ARGV[2]), ARGV[3]
local unread, page, flags, more = 0, {}, {}, 0
for at, entry in ipairs(redis.call('LRANGE', index, 0, -1)) do
  local stored, epoch, position, id = index_summary(entry)
  if stored > oldest then
    local flag = is_read(read, epoch, position, id) and 1 or 0
    if flag == 0 then unread = unread + 1 end
    if before == '' or bytes_less(seq_of(epoch, position), before) then
      if #page < limit then
        page[#page + 1] = redis.call('LINDEX', inbox, at - 1)
        flags[#flags + 1] = flag
      else
        more = 1
      end
    end
  end
end
return {now_ms(), unread, page, flags, more}
`;

/**
 * KEYS: inbox, read set, index. ARGV: item TTL ms, seq, id. Returns 'unread' or 'read' when the
 * live item at that seq carries that id, else 'absent' (trimmed, expired, never there, or another
 * notification). It neither counts unread items nor reads any body: it looks up the one index
 * entry, in O(log n) LINDEXes of the index, not a walk of it. The index is newest first and its
 * seqs descend (one room's seqs grow with each publish; `before` pages rely on the same order),
 * so from the newest it probes 1, 2, 4, 8... entries back until it passes the seq, then halves
 * what is left: an item near the newest, the one a reminder usually looks for, costs a probe or
 * two, one anywhere in a 10,000-item inbox about 28. Unreadable entries (stored at 0, with no
 * seq) are stepped over to the next entry.
 */
const INBOX_ITEM_STATE = `${NOW_MS}${INBOX_INDEX}${INBOX_SEQ}
local inbox, read, index = KEYS[1], KEYS[2], KEYS[3]
inbox_index_ready(inbox, index)
local oldest = now_ms() - tonumber(ARGV[1])
local seq, id = ARGV[2], ARGV[3]
-- The first readable entry from place at to place last: where it is and its summary, or nil.
local function readable_from(at, last)
  for place = at, last do
    local stored, epoch, position, entry_id = index_summary(redis.call('LINDEX', index, place))
    if stored > 0 then return place, stored, epoch, position, entry_id end
  end
end
-- The item, if there, is between first and last; probe is where a gallop looks next.
local first, last, probe, galloping = 0, redis.call('LLEN', index) - 1, 0, true
while first <= last do
  local middle = galloping and math.min(probe, last) or math.floor((first + last) / 2)
  local place, stored, epoch, position, entry_id = readable_from(middle, last)
  if not place then
    last, galloping = middle - 1, false
  else
    local entry_seq = seq_of(epoch, position)
    if entry_seq == seq then
      if entry_id ~= id or stored <= oldest then return 'absent' end
      return is_read(read, epoch, position, entry_id) and 'read' or 'unread'
    elseif bytes_less(seq, entry_seq) then
      -- Newer than the item: so is everything before it.
      first, probe = place + 1, 2 * place + 1
    else
      -- Older: so is everything after it (middle up to place are unreadable).
      last, galloping = middle - 1, false
    end
  end
end
return 'absent'
`;

/**
 * KEYS: inbox, read set, index. ARGV: item TTL ms, item TTL s, 'all' or 'ids', the publish command
 * (PUBLISH, or SPUBLISH on a Cluster: the personal room's channel shares the inbox's hash tag),
 * the personal room's channel, what its messages start with ('' or `@<room>\n`), then the ids.
 * Marks the live items selected (unknown ids ignored); returns the unread count after.
 *
 * When it marked any, it also publishes the `inbox` event (inboxEvent builds the same frame in
 * process) as a broadcast on the channel, in this step: every notification the count includes
 * was published on the channel before it, every later one after it. Ids are JSON-encoded by
 * cjson; `read` lists the newly marked in the order the client named them, or "all".
 */
const INBOX_MARK = `${NOW_MS}${INBOX_INDEX}
local inbox, read, index = KEYS[1], KEYS[2], KEYS[3]
inbox_index_ready(inbox, index)
local oldest = now_ms() - tonumber(ARGV[1])
local all = ARGV[3] == 'all'
local FIRST_ID = 7
local wanted = {}
for i = FIRST_ID, #ARGV do wanted[ARGV[i]] = true end
local unread, changed, newly = 0, false, {}
for _, entry in ipairs(redis.call('LRANGE', index, 0, -1)) do
  local stored, epoch, position, id = index_summary(entry)
  if stored > oldest and not is_read(read, epoch, position, id) then
    if all or wanted[id] then
      redis.call('SADD', read, read_mark(epoch, position))
      changed = true
      newly[id] = true
    else
      unread = unread + 1
    end
  end
end
if changed then
  redis.call('EXPIRE', read, ARGV[2])
  local listed = '"all"'
  if not all then
    local ids = {}
    for i = FIRST_ID, #ARGV do
      local id = ARGV[i]
      if newly[id] then
        table.insert(ids, cjson.encode(id))
        newly[id] = nil
      end
    end
    listed = '[' .. table.concat(ids, ',') .. ']'
  end
  redis.call(ARGV[4], ARGV[5], ARGV[6] .. 'B\\n{"event":"inbox","data":{"unread":' .. unread .. ',"read":' .. listed .. '}}')
end
return unread
`;

export interface InboxKeys {
  items: string;
  read: string;
  /** INBOX_INDEX: the items' times, seqs and ids. */
  index: string;
}

/** Where a mark's `inbox` event is published: the user's personal room's channel. */
export interface InboxEventChannel {
  channel: string;
  /** '' or `@<room>\n`: RedisKeys.sharedMessagePrefix. */
  messagePrefix: string;
  pubsub: 'classic' | 'sharded';
}

/** An inbox list entry: `<storedAtMs> <epoch> <position> <notification body JSON>`. */
export interface StoredInboxEntry {
  storedAtMs: number;
  epoch: string;
  position: number;
  body: string;
}

export function parseInboxEntry(entry: string): StoredInboxEntry | undefined {
  const match = /^(\d+) (\S+) (\d+) (.*)$/s.exec(entry);
  return match ? { storedAtMs: Number(match[1]), epoch: match[2], position: Number(match[3]), body: match[4] } : undefined;
}

/** EXPIRE takes whole seconds: an item TTL is never cut short by rounding. */
export function expirySeconds(ttlMs: number): number {
  return Math.ceil(ttlMs / 1000);
}

export const INBOX_SCRIPTS = {
  heraldInboxRead: defineScript({
    SCRIPT: INBOX_READ,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: InboxKeys, ttlMs: number, limit: number, before: string | undefined) {
      parser.pushKey(keys.items);
      parser.pushKey(keys.read);
      parser.pushKey(keys.index);
      parser.push(String(ttlMs), String(limit), before ?? '');
    },
    transformReply: (reply: [number, number, string[], number[], number]) => ({ nowMs: Number(reply[0]), unread: Number(reply[1]), entries: reply[2], read: reply[3].map((flag) => Number(flag) === 1), more: Number(reply[4]) === 1 }),
  }),
  heraldInboxItemState: defineScript({
    SCRIPT: INBOX_ITEM_STATE,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: InboxKeys, ttlMs: number, seq: string, id: string) {
      parser.pushKey(keys.items);
      parser.pushKey(keys.read);
      parser.pushKey(keys.index);
      parser.push(String(ttlMs), seq, id);
    },
    transformReply: (reply: string) => String(reply) as InboxItemState,
  }),
  heraldInboxMark: defineScript({
    SCRIPT: INBOX_MARK,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: InboxKeys, ttlMs: number, selection: string[] | 'all', event: InboxEventChannel) {
      parser.pushKey(keys.items);
      parser.pushKey(keys.read);
      parser.pushKey(keys.index);
      parser.push(String(ttlMs), String(expirySeconds(ttlMs)), selection === 'all' ? 'all' : 'ids');
      parser.push(event.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH', event.channel, event.messagePrefix, ...(selection === 'all' ? [] : selection));
    },
    transformReply: (reply: number) => Number(reply),
  }),
};
