package asynqrdb

import (
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

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

// asynqRetryScript is asynq v0.26.0's retryCmd (internal/rdb/rdb.go),
// byte for byte. ServerClient recognizes it by its SHA-1 to end a task
// cancelled on request instead of retrying it.
//
// KEYS: task key, active list, lease set, retry set, processed and failed
// counters of the day, processed and failed totals. ARGV: task ID, task
// record, retry time, stats expiry, is failure, max int64.
const asynqRetryScript = `
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if tonumber(ARGV[5]) == 1 then
	local n = redis.call("INCR", KEYS[5])
	if tonumber(n) == 1 then
		redis.call("EXPIREAT", KEYS[5], ARGV[4])
	end
	local m = redis.call("INCR", KEYS[6])
	if tonumber(m) == 1 then
		redis.call("EXPIREAT", KEYS[6], ARGV[4])
	end
    local total = redis.call("GET", KEYS[7])
    if tonumber(total) == tonumber(ARGV[6]) then
    	redis.call("SET", KEYS[7], 1)
    	redis.call("SET", KEYS[8], 1)
    else
    	redis.call("INCR", KEYS[7])
    	redis.call("INCR", KEYS[8])
    end
end
return redis.status_reply("OK")`

// archiveReleaseScript is asynqArchiveScript followed by the release of
// the task's lock that lasts until the task ends; same keys and
// arguments, same reply. An error reply of asynq's script (NOT FOUND)
// releases nothing. A workflow step's failure (or cancellation, with an
// eighth argument) is then recorded in its workflow (tuskq_wf_outcome,
// workflow_lua.go): the rest is cancelled or skipped, and the workflow
// finishes when nothing is left, in the same script. With an eighth argument "delete", the task archived is
// then deleted (worker.cancelled delete).
const archiveReleaseScript = `redis.replicate_commands()` + workflowLua + `
local function asynq_archive()
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
local wf_outcome = "failed"
if ARGV[8] then
	wf_outcome = "cancelled"
end
tuskq_wf_outcome(KEYS[1], wf_outcome)
if ARGV[8] == "delete" then
	redis.call("ZREM", KEYS[4], ARGV[1])
	redis.call("DEL", KEYS[1])
end
return r
`

// archiveRelease is archiveReleaseScript with its SHA-1.
var archiveRelease = newScript(archiveReleaseScript)

// Archive retention of asynq v0.26.0's Archive (internal/rdb/rdb.go).
const (
	archiveMaxSize = 10000
	archiveDays    = 90
)

// cancelledEnd turns the keys and arguments of asynq's retry or archive
// script for a task cancelled on request into those of
// archiveReleaseScript: the task is archived with the error "cancelled"
// (or deleted, with del) instead of retried. ok is false when keys or args
// are not what asynq v0.26.0 sends.
func cancelledEnd(retry bool, keys []string, args []any, now time.Time, del bool) (k []string, a []any, ok bool) {
	if len(keys) < 8 || len(args) < 2 {
		return nil, nil, false
	}
	id, ok1 := args[0].(string)
	msg, ok2 := asBytes(args[1])
	queue, ok3 := queueOfTaskKey(keys[0])
	if !ok1 || !ok2 || !ok3 {
		return nil, nil, false
	}
	msg = withErrorMsg(msg, CancelledError)
	if retry {
		// retry: task, active, lease, retry, processed:day, failed:day, processed, failed.
		k = []string{keys[0], keys[1], keys[2], ArchivedKey(queue), keys[4], keys[5], keys[6], keys[7], TaskKeyPrefix(queue)}
		if len(args) < 6 {
			return nil, nil, false
		}
		a = []any{id, msg, now.Unix(), now.AddDate(0, 0, -archiveDays).Unix(), archiveMaxSize, args[3], args[5]}
	} else {
		if len(keys) < 9 || len(args) < 7 {
			return nil, nil, false
		}
		k = keys
		a = append([]any{id, msg}, args[2:7]...)
	}
	end := "archive"
	if del {
		end = "delete"
	}
	return k, append(a, end), true
}

// CancelledError is the error message a task cancelled on request is
// archived with.
const CancelledError = "cancelled"

func asBytes(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	case string:
		return []byte(b), true
	}
	return nil, false
}

// queueOfTaskKey returns q of TaskKey(q, id).
func queueOfTaskKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "asynq:{")
	if !ok {
		return "", false
	}
	q, _, ok := strings.Cut(rest, "}:t:")
	return q, ok
}

// withErrorMsg returns the encoded TaskMessage m with its error_msg set to
// s, every other field kept as it is.
func withErrorMsg(m []byte, s string) []byte {
	out := make([]byte, 0, len(m)+len(s)+2)
	for b := m; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return m
		}
		if num != fieldErrorMsg {
			out = append(out, b[:n+l]...)
		}
		b = b[n+l:]
	}
	return appendStringField(out, fieldErrorMsg, s)
}
