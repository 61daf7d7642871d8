package limits

import "github.com/redis/go-redis/v9"

// The limiter's Redis scripts. Every key of one limit is hashed into one
// Redis Cluster slot ({tuskq:limit:NAME}), so each script runs on one node
// whatever the queues of the tasks it limits, and times come from Redis's
// own clock (TIME), so the workers' clocks need not agree.
//
// A keyed limit passes the key value and, in KEYS, both the key's own
// entries and those of the OtherKey bucket: the value is tracked in the
// keys set (scored by last use, entries idle for ARGV idle ms pruned)
// unless the set is full, in which case the task is counted in the
// (other) bucket.

// keyPick is the Lua prelude that chooses between the key's entries and
// the (other) bucket's. It sets the local "own" to true when the key's
// own entries are used. KEYS[1] is the keys set; ARGV[1] the key value
// ("" when unkeyed), ARGV[2] the bound, ARGV[3] the idle time in ms.
const keyPick = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local own = true
if ARGV[1] ~= "" then
	redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[3]))
	if not redis.call("ZSCORE", KEYS[1], ARGV[1]) and redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[2]) then
		own = false
	else
		redis.call("ZADD", KEYS[1], now, ARGV[1])
		redis.call("PEXPIRE", KEYS[1], ARGV[3])
	end
end
`

// admitScript admits a task under one limit: a concurrency slot when the
// limit has a capacity (ARGV[6] > 0), a rate start when it has a rate
// (ARGV[8] > 0), both in one round trip, or neither.
//
// Concurrency: a slot is a lease (member = task ID, score = expiry in ms)
// in the slots set, after dropping the expired ones. A task that holds a
// slot already keeps it (its lease is renewed): one task never holds two
// slots of a limit, and a slot is never given while its lease runs. When
// every slot is taken, the task is added to the waiters set (kept at its
// first wait, so the oldest waiter is promoted first by a release), no
// rate start is spent, and the answer says when the first lease runs out.
//
// Rate: GCRA (the generic cell rate algorithm) with a theoretical arrival
// time "tat" in ms: a start is allowed once tat - burst*interval is not in
// the future, and each start moves tat on by one interval, so any window
// of length W sees at most W/interval + burst starts. A start allowed
// within ARGV[10] ms from now is taken at once (tat moves on) and the
// answer says how long the task must wait before it starts. A later one is
// refused (and no slot taken); "dtat" then hands out return times spaced
// one interval apart after the starts already taken, so that a backlog of
// refused tasks comes back at the rate it can run at, not all at once.
//
// KEYS[1] keys set, KEYS[2] slots, KEYS[3] waiters, KEYS[4] slots of
// (other), KEYS[5] waiters of (other), KEYS[6] rate state hash, KEYS[7]
// rate state hash of (other). ARGV[1..3] as keyPick, ARGV[4] task ID,
// ARGV[5] lease ms, ARGV[6] capacity (0: none), ARGV[7] waiter member,
// ARGV[8] rate interval ms (0: none), ARGV[9] burst, ARGV[10] the longest
// wait accepted, in ms.
// Answer: {1 admitted | 0 refused by concurrency | 2 refused by rate,
// wait ms when admitted | come back in ms, 1 own | 0 other, Redis's time
// in µs when the script ran}.
var admitScript = redis.NewScript(keyPick + `
local o = 0
if own then o = 1 end
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap = tonumber(ARGV[6])
local slots, waiters = KEYS[2], KEYS[3]
if not own then slots, waiters = KEYS[4], KEYS[5] end
if cap > 0 then
	redis.call("ZREMRANGEBYSCORE", slots, "-inf", now)
	if not redis.call("ZSCORE", slots, ARGV[4]) and redis.call("ZCARD", slots) >= cap then
		local lease = tonumber(ARGV[5])
		redis.call("ZADD", waiters, "NX", now, ARGV[7])
		redis.call("PEXPIRE", waiters, 4 * lease)
		local first = redis.call("ZRANGE", slots, 0, 0, "WITHSCORES")
		return {0, math.ceil(tonumber(first[2]) - now), o, us}
	end
end
local wait = 0
local T = tonumber(ARGV[8])
if T > 0 then
	local key = KEYS[6]
	if not own then key = KEYS[7] end
	local tau = T * tonumber(ARGV[9])
	local tat = math.max(tonumber(redis.call("HGET", key, "tat")) or now, now)
	local allow = tat + T - tau
	if allow - now > tonumber(ARGV[10]) then
		local dtat = math.max(tonumber(redis.call("HGET", key, "dtat")) or 0, tat) + T
		redis.call("HSET", key, "dtat", tostring(dtat))
		redis.call("PEXPIRE", key, math.ceil(dtat - now + tau) + 60000)
		return {2, math.ceil(dtat - tau - now), o, us}
	end
	redis.call("HSET", key, "tat", tostring(tat + T))
	redis.call("PEXPIRE", key, math.ceil(tat + T - now + tau) + 60000)
	wait = math.max(0, math.ceil(allow - now))
end
if cap > 0 then
	local lease = tonumber(ARGV[5])
	redis.call("ZADD", slots, now + lease, ARGV[4])
	redis.call("PEXPIRE", slots, 2 * lease)
	redis.call("ZREM", waiters, ARGV[7])
end
return {1, wait, o, us}`)

// refreshScript renews the leases of tasks that still run (ZADD XX: a
// lease that expired and was dropped is not brought back).
//
// KEYS[1] slots. ARGV[1] lease ms, ARGV[2..] task IDs. Answer: how many
// were renewed.
var refreshScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local exp = now + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
	n = n + redis.call("ZADD", KEYS[1], "XX", "CH", exp, ARGV[i])
end
redis.call("PEXPIRE", KEYS[1], 2 * tonumber(ARGV[1]))
return n`)

// releaseScript gives a slot back and pops the oldest waiters, up to
// ARGV[2], for the worker to promote.
//
// KEYS[1] slots, KEYS[2] waiters. ARGV[1] task ID, ARGV[2] waiters to pop.
// Answer: the popped waiter members.
var releaseScript = redis.NewScript(`
redis.call("ZREM", KEYS[1], ARGV[1])
local out = {}
local popped = redis.call("ZPOPMIN", KEYS[2], tonumber(ARGV[2]))
for i = 1, #popped, 2 do
	table.insert(out, popped[i])
end
return out`)
