package asynqrdb

// This file releases a task's uniqueness lock when asynq archives it.
//
// asynq v0.26.0 releases a task's lock (the key in its unique_key field,
// when it still holds the task's ID) when the task completes (its done
// and mark-as-complete scripts) and when the Inspector deletes it, but not
// when a worker archives it (retries used up, SkipRetry, an orphan asynq's
// recoverer gives up on). ServerClient therefore runs asynq's archive
// script wrapped: asynq's own text, byte for byte, as a Lua function,
// followed by the release of a lock that lasts until the task ends (a lock
// without a TTL that holds the task's ID), in the same script and so in
// the same round trip that records the outcome. A lock with a TTL
// (asynq's Unique) is left to expire, as asynq leaves it.

// asynqArchiveScript is asynq v0.26.0's archiveCmd (internal/rdb/rdb.go),
// byte for byte. ServerClient recognizes it by its SHA-1, or by its text
// when go-redis falls back to EVAL.
//
// KEYS: task key, active list, lease set, archived set, processed and
// failed counters of the day, processed and failed totals, task key
// prefix. ARGV: task ID, task record, archive time, cutoff, archive size,
// stats expiry, max int64.
const asynqArchiveScript = `
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
local old = redis.call("ZRANGE", KEYS[4], "-inf", ARGV[4], "BYSCORE")
if #old > 0 then
	for _, id in ipairs(old) do
		redis.call("DEL", KEYS[9] .. id)
	end
	redis.call("ZREM", KEYS[4], unpack(old))
end

local extra = redis.call("ZRANGE", KEYS[4], 0, -ARGV[5])
if #extra > 0 then
	for _, id in ipairs(extra) do
		redis.call("DEL", KEYS[9] .. id)
	end
	redis.call("ZREM", KEYS[4], unpack(extra))
end

redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
local n = redis.call("INCR", KEYS[5])
if tonumber(n) == 1 then
	redis.call("EXPIREAT", KEYS[5], ARGV[6])
end
local m = redis.call("INCR", KEYS[6])
if tonumber(m) == 1 then
	redis.call("EXPIREAT", KEYS[6], ARGV[6])
end
local total = redis.call("GET", KEYS[7])
if tonumber(total) == tonumber(ARGV[7]) then
   	redis.call("SET", KEYS[7], 1)
   	redis.call("SET", KEYS[8], 1)
else
  	redis.call("INCR", KEYS[7])
   	redis.call("INCR", KEYS[8])
end
return redis.status_reply("OK")`

// archiveReleaseScript is asynqArchiveScript followed by the release of
// the task's lock that lasts until the task ends; same keys and
// arguments, same reply. An error reply of asynq's script (NOT FOUND)
// releases nothing.
const archiveReleaseScript = `local function asynq_archive()
` + asynqArchiveScript + `
end
local r = asynq_archive()
if type(r) == "table" and r.err then
	return r
end
local lock = redis.call("HGET", KEYS[1], "unique_key")
if lock and lock ~= "" and redis.call("GET", lock) == ARGV[1] and redis.call("PTTL", lock) == -1 then
	redis.call("DEL", lock)
end
return r
`

// archiveRelease is archiveReleaseScript with its SHA-1.
var archiveRelease = newScript(archiveReleaseScript)
