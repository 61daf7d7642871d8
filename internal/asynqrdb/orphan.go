package asynqrdb

// This file finds and recovers asynq's orphaned tasks: active tasks whose
// lease expired because the worker running them died or lost Redis.
//
// asynq v0.26.0 keeps, per queue, a sorted set (LeaseKey) of the active
// task IDs scored by their lease expiry (Unix seconds). A live worker
// extends the leases of its tasks every 5 s by 30 s; a worker whose lease
// runs out stops the task's handler itself (asynq's processor cancels it
// and writes nothing), so once a lease has expired nobody runs the task
// any more. asynq's own recoverer waits 30 s more, checks once a minute and
// charges the recovery as a failed attempt (a task with MaxRetry 0 is
// archived, asynq issue #1015), delayed by the retry delay: 90 to 150 s
// after the lease expired. RecoverOrphans hands such tasks back to the head
// of their queue as soon as a grace period after the lease expiry has
// passed, with their retry count unchanged, the way asynq hands tasks back
// at shutdown. The tests run a real asynq server.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// recoverScript hands back to the pending list, at its head (asynq's
// dequeue pops from the right, as asynq's requeue pushes), each active task
// whose lease expired at or before the cutoff, up to a limit per call. A
// task is moved only when it is still in the active list and still has a
// task record; its retry count and the rest of its record stay as they are,
// so the recovery is not charged as an attempt. It mirrors asynq's requeue
// script (internal/rdb/rdb.go, requeueCmd) with the lease check added, in
// one atomic step per queue, so several workers may run it at once.
//
// A lease entry without an active task or a task record (asynq leaves
// none, but a hand-edited Redis might) is left alone and skipped: the
// script returns how many it skipped first, then the IDs it recovered, and
// the next call starts past the skipped ones.
//
// KEYS[1] lease set, KEYS[2] active list, KEYS[3] pending list.
// ARGV[1] cutoff (Unix seconds), ARGV[2] task key prefix, ARGV[3] limit,
// ARGV[4] offset (entries skipped by earlier calls).
var recoverScript = redis.NewScript(`
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", tonumber(ARGV[4]), tonumber(ARGV[3]))
local res = {0}
for _, id in ipairs(ids) do
	local key = ARGV[2] .. id
	if redis.call("EXISTS", key) == 1 and redis.call("LREM", KEYS[2], 0, id) > 0 then
		redis.call("ZREM", KEYS[1], id)
		redis.call("RPUSH", KEYS[3], id)
		redis.call("HSET", key, "state", "pending")
		table.insert(res, id)
	else
		res[1] = res[1] + 1
	end
end
res[1] = tostring(res[1])
return res
`)

// OrphanBatchLimit is how many tasks of one queue RecoverOrphans moves per
// script call;
// it calls again while calls come back full, so one script never holds
// Redis long.
const OrphanBatchLimit = 100

// CountOrphans returns, for each queue, how many active tasks have a lease that
// expired before now: asynq's TaskInfo.IsOrphaned, counted without reading
// the tasks (one ZCOUNT per queue, in one pipeline). Queues without orphans
// map to 0.
func CountOrphans(ctx context.Context, rdb redis.UniversalClient, queues []string, now time.Time) (map[string]int64, error) {
	if len(queues) == 0 {
		return map[string]int64{}, nil
	}
	before := "(" + strconv.FormatInt(now.Unix(), 10)
	cmds := make([]*redis.IntCmd, len(queues))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range queues {
			cmds[i] = p.ZCount(ctx, LeaseKey(q), "-inf", before)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("asynqrdb: count orphans: %w", err)
	}
	out := make(map[string]int64, len(queues))
	for i, q := range queues {
		out[q] = cmds[i].Val()
	}
	return out, nil
}

// RecoverOrphans hands back to its queue every task of queue whose lease expired
// at or before cutoff, pushes a wake-up token per task (Wake), and returns
// their IDs. Pass now minus a grace period
// that covers the clock skew between worker hosts.
func RecoverOrphans(ctx context.Context, rdb redis.UniversalClient, queue string, cutoff time.Time) ([]string, error) {
	keys := []string{LeaseKey(queue), ActiveKey(queue), PendingKey(queue)}
	var all []string
	offset := 0
	for range 1000 { // at most 100,000 entries per call; the next sweep takes the rest
		res, err := recoverScript.Run(ctx, rdb, keys, cutoff.Unix(), TaskKeyPrefix(queue), OrphanBatchLimit, offset).StringSlice()
		if err != nil {
			return all, fmt.Errorf("asynqrdb: recover orphans of queue %q: %w", queue, err)
		}
		if len(res) == 0 {
			return all, fmt.Errorf("asynqrdb: recover orphans of queue %q: the script returned nothing", queue)
		}
		skipped, err := strconv.Atoi(res[0])
		if err != nil {
			return all, fmt.Errorf("asynqrdb: recover orphans of queue %q: skipped count %q: %w", queue, res[0], err)
		}
		all = append(all, res[1:]...)
		offset += skipped
		if skipped+len(res)-1 < OrphanBatchLimit {
			break
		}
	}
	if err := Wake(ctx, rdb, queue, len(all)); err != nil {
		// The tasks are back; idle workers find them at their fallback fetch.
		return all, fmt.Errorf("asynqrdb: recover orphans of queue %q: wake workers: %w", queue, err)
	}
	return all, nil
}
