package asynqrdb

// This file defers active tasks: a task that a fleet limit refused, or
// whose processor snoozed it, goes back to its queue's scheduled set with
// its record (and so its retry count) unchanged. asynq v0.26.0 has no such
// path: its handler error path always goes through its retry script
// (retryCmd), which sends the task to the retry set and, unless IsFailure
// says otherwise, increments retried; with its retries used up it
// archives. So the worker runs DeferActive itself, then tells the asynq
// server's client (ServerClient) to drop the outcome script asynq's
// processor sends next for that task (OutcomeSkips), since the task is no
// longer in the active list and that script would fail with NOT FOUND and
// be re-sent by asynq's syncer until the lease ends.

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// deferScript moves an active task to the scheduled set: it removes the ID
// from the active list and the lease set, adds it to the scheduled set at
// the given time and marks the record scheduled, as asynq's schedule
// script writes a scheduled task. The record's message (retry count,
// error) is not touched. It answers 0 when the task is not active (its
// lease expired and it was recovered, say) and changes nothing then.
//
// KEYS[1] active list, KEYS[2] lease set, KEYS[3] scheduled set, KEYS[4]
// task record. ARGV[1] task ID, ARGV[2] process-at (Unix seconds).
var deferScript = redis.NewScript(`
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
	return 0
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZADD", KEYS[3], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[4], "state", "scheduled")
return 1`)

// DeferActive moves the active task id of queue to the scheduled set, to
// be processed at at (rounded up to the next whole second: asynq's
// schedule is in Unix seconds, and a task must never come back early). It
// reports false, changing nothing, when the task is not in the active
// list.
func DeferActive(ctx context.Context, rdb redis.UniversalClient, queue, id string, at time.Time) (bool, error) {
	sec := at.Unix()
	if at.Nanosecond() > 0 {
		sec++
	}
	keys := []string{ActiveKey(queue), LeaseKey(queue), ScheduledKey(queue), TaskKey(queue, id)}
	n, err := deferScript.Run(ctx, rdb, keys, id, sec).Int64()
	return n == 1, err
}

// promoteScript moves a scheduled task to the tail of its queue's pending
// list at once (as asynq's forward script would when it falls due) and
// answers 1, or answers 0 when the task is not scheduled.
//
// KEYS[1] scheduled set, KEYS[2] pending list, KEYS[3] task record.
// ARGV[1] task ID, ARGV[2] now (Unix nanoseconds, asynq's pending_since).
var promoteScript = redis.NewScript(`
if redis.call("ZREM", KEYS[1], ARGV[1]) == 0 then
	return 0
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[3], "state", "pending", "pending_since", ARGV[2])
return 1`)

// PromoteScheduled makes the scheduled task id of queue pending now and
// pushes a wake-up token for it. It reports false when the task is not in
// the scheduled set (it already ran, or was deleted).
func PromoteScheduled(ctx context.Context, rdb redis.UniversalClient, queue, id string) (bool, error) {
	keys := []string{ScheduledKey(queue), PendingKey(queue), TaskKey(queue, id)}
	n, err := promoteScript.Run(ctx, rdb, keys, id, strconv.FormatInt(time.Now().UnixNano(), 10)).Int64()
	if err != nil || n == 0 {
		return false, err
	}
	_ = Wake(context.WithoutCancel(ctx), rdb, queue, 1)
	return true, nil
}

// OutcomeSkips is the set of tasks whose next outcome script (done,
// complete, retry, archive) the worker's ServerClients drop instead of
// sending: tasks the worker has already moved with DeferActive. One set
// serves every server of a worker. The zero value is not usable; use
// NewOutcomeSkips.
type OutcomeSkips struct {
	n  atomic.Int64 // len(m), read without the lock on every script
	mu sync.Mutex
	m  map[string]struct{} // task record keys
}

// NewOutcomeSkips returns an empty set.
func NewOutcomeSkips() *OutcomeSkips {
	return &OutcomeSkips{m: map[string]struct{}{}}
}

// Add makes the next outcome script for task id of queue be dropped.
func (s *OutcomeSkips) Add(queue, id string) {
	s.mu.Lock()
	s.m[TaskKey(queue, id)] = struct{}{}
	s.n.Store(int64(len(s.m)))
	s.mu.Unlock()
}

// Len is the number of skips not consumed yet.
func (s *OutcomeSkips) Len() int { return int(s.n.Load()) }

// take reports whether one of keys is a task record in the set, and
// removes it.
func (s *OutcomeSkips) take(keys []string) bool {
	if s == nil || s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, ok := s.m[k]; ok {
			delete(s.m, k)
			s.n.Store(int64(len(s.m)))
			return true
		}
	}
	return false
}

// skipped is the reply a dropped outcome script gets: no error, as if
// Redis had run it.
func skipped(ctx context.Context) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetVal(int64(1))
	return cmd
}
