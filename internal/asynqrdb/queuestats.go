package asynqrdb

// This file reads the sizes of asynq's queues for the monitor's insight
// engine at every tick, in two pipelined round trips for all queues,
// where asynq's Inspector.GetQueueInfo runs two scripts per queue (one of
// them sampling memory usage, which the engine does not need).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// QueueSize is the state of one asynq queue.
type QueueSize struct {
	// Queue is the queue's name.
	Queue string
	// Pending, Active, Scheduled and Retry count the tasks by state.
	Pending, Active, Scheduled, Retry int64
	// Processed is asynq's all-time count of processed tasks (done or
	// failed).
	Processed int64
	// Paused reports a paused queue.
	Paused bool
	// OldestPending is when the oldest pending task became pending (zero
	// with no pending task).
	OldestPending time.Time
}

// Queues returns the names of asynq's queues.
func Queues(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	qs, err := rdb.SMembers(ctx, AllQueues).Result()
	if err != nil {
		return nil, fmt.Errorf("asynqrdb: listing queues: %w", err)
	}
	return qs, nil
}

// QueueSizes reads the sizes of queues as asynq v0.26.0 keeps them: the
// pending and active lists, the scheduled and retry sorted sets, the
// processed total counter, the paused marker, and the pending_since field
// of the oldest pending task's record (the list's tail, which asynq
// dequeues next).
func QueueSizes(ctx context.Context, rdb redis.UniversalClient, queues []string) ([]QueueSize, error) {
	type cmds struct {
		pending, active, scheduled, retry *redis.IntCmd
		processed                         *redis.StringCmd
		paused                            *redis.IntCmd
		oldest                            *redis.StringSliceCmd
	}
	cs := make([]cmds, len(queues))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range queues {
			cs[i] = cmds{
				pending:   p.LLen(ctx, PendingKey(q)),
				active:    p.LLen(ctx, ActiveKey(q)),
				scheduled: p.ZCard(ctx, ScheduledKey(q)),
				retry:     p.ZCard(ctx, RetryKey(q)),
				processed: p.Get(ctx, ProcessedTotalKey(q)),
				paused:    p.Exists(ctx, PausedKey(q)),
				oldest:    p.LRange(ctx, PendingKey(q), -1, -1),
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("asynqrdb: reading queue sizes: %w", err)
	}
	out := make([]QueueSize, len(queues))
	since := make([]*redis.StringCmd, len(queues))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range queues {
			c := cs[i]
			out[i] = QueueSize{Queue: q, Pending: c.pending.Val(), Active: c.active.Val(),
				Scheduled: c.scheduled.Val(), Retry: c.retry.Val(), Paused: c.paused.Val() > 0}
			out[i].Processed, _ = strconv.ParseInt(c.processed.Val(), 10, 64)
			if ids := c.oldest.Val(); len(ids) == 1 {
				since[i] = p.HGet(ctx, TaskKey(q, ids[0]), "pending_since")
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("asynqrdb: reading the oldest pending tasks: %w", err)
	}
	for i, c := range since {
		if c == nil {
			continue
		}
		if ns, err := strconv.ParseInt(c.Val(), 10, 64); err == nil && ns > 0 {
			out[i].OldestPending = time.Unix(0, ns)
		}
	}
	return out, nil
}
