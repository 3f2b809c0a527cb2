/**
 * Lua shared by the scripts of every Redis seam. node-redis sends each script with EVALSHA and
 * falls back to EVAL after a Redis restart (NOSCRIPT).
 */

/** Milliseconds of Redis time: scripts never trust pod clocks. */
export const NOW_MS = `
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
`;

