import { CommandParser, defineScript } from 'redis';
import { NOW_MS } from './lua';

/**
 * The Lua scripts behind RedisInboxStore. The inbox is written by the publish script
 * (room.scripts.ts), in the same step as the room's history; these read it and mark items read.
 */

/** An inbox entry's storage time and notification id (nil when the entry is unreadable). */
export const ITEM_ID = `
local function item_id(entry)
  local stored, json = string.match(entry, '^(%d+) %S+ %S+ (.*)$')
  if not stored then return 0, nil end
  local ok, item = pcall(cjson.decode, json)
  if not ok or type(item) ~= 'table' or type(item.id) ~= 'string' then return 0, nil end
  return tonumber(stored), item.id
end
`;

/** KEYS: inbox, read set. Returns {now ms, inbox entries newest first, read ids}. */
const INBOX_READ = `${NOW_MS}
return {now_ms(), redis.call('LRANGE', KEYS[1], 0, -1), redis.call('SMEMBERS', KEYS[2])}
`;

/**
 * KEYS: inbox, read set. ARGV: item TTL ms, item TTL s, 'all' or 'ids', the publish command
 * (PUBLISH, or SPUBLISH on a Cluster: the personal room's channel shares the inbox's hash tag),
 * the personal room's channel, what its messages start with ('' or `@<room>\n`), then the ids.
 * Marks the live items selected (unknown ids ignored); returns the unread count after.
 *
 * When it marked any, it also publishes the `inbox` event (inboxEvent builds the same frame in
 * process) as a broadcast on the channel, in this step: every notification the count includes
 * was published on the channel before it, every later one after it. Ids are JSON-encoded by
 * cjson; `read` lists the newly marked in the order the client named them, or "all".
 */
const INBOX_MARK = `${NOW_MS}${ITEM_ID}
local inbox, read = KEYS[1], KEYS[2]
local oldest = now_ms() - tonumber(ARGV[1])
local all = ARGV[3] == 'all'
local FIRST_ID = 7
local wanted = {}
for i = FIRST_ID, #ARGV do wanted[ARGV[i]] = true end
local unread, changed, newly = 0, false, {}
for _, entry in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
  local stored, id = item_id(entry)
  if id and stored > oldest and redis.call('SISMEMBER', read, id) == 0 then
    if all or wanted[id] then
      redis.call('SADD', read, id)
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
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: InboxKeys) {
      parser.pushKey(keys.items);
      parser.pushKey(keys.read);
    },
    transformReply: (reply: [number, string[], string[]]) => ({ nowMs: Number(reply[0]), entries: reply[1], read: reply[2] }),
  }),
  heraldInboxMark: defineScript({
    SCRIPT: INBOX_MARK,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: InboxKeys, ttlMs: number, selection: string[] | 'all', event: InboxEventChannel) {
      parser.pushKey(keys.items);
      parser.pushKey(keys.read);
      parser.push(String(ttlMs), String(expirySeconds(ttlMs)), selection === 'all' ? 'all' : 'ids');
      parser.push(event.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH', event.channel, event.messagePrefix, ...(selection === 'all' ? [] : selection));
    },
    transformReply: (reply: number) => Number(reply),
  }),
};
