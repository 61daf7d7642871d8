package asynqrdb

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// errDeferred is what the test handler returns after deferring its task.
var errDeferred = errors.New("deferred by the test")

// TestDeferActivePinsAsynq runs a real asynq v0.26.0 server whose handler
// defers its task with DeferActive and returns an error, as the worker
// does: the task must end up scheduled (asynq's Inspector reads it as
// such), with no retry charged and no failure counted, even with MaxRetry
// 0 (which asynq's own error path would archive), and asynq's outcome
// script for it must be dropped, not sent (it would fail with NOT FOUND).
// It pins the key layout and the record states to asynq's.
func TestDeferActivePinsAsynq(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	var notFound atomic.Int32
	rdb.AddHook(notFoundCounter{&notFound})
	skips := NewOutcomeSkips()
	client := NewServerClient(rdb, nil, NewScriptBatcher(rdb))
	client.SkipOutcomes(skips)

	var runs atomic.Int32
	var deferErr atomic.Value
	s := asynq.NewServerFromRedisClient(client, asynq.Config{
		Concurrency: 2, Queues: map[string]int{"q": 1}, TaskCheckInterval: 10 * time.Millisecond,
		DelayedTaskCheckInterval: time.Hour, LogLevel: asynq.FatalLevel,
	})
	if err := s.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		runs.Add(1)
		id, _ := asynq.GetTaskID(ctx)
		q, _ := asynq.GetQueueName(ctx)
		ok, err := DeferActive(ctx, rdb, q, id, time.Now().Add(time.Hour))
		if err != nil || !ok {
			deferErr.Store(errors.Join(err, errors.New("DeferActive found no active task")))
			return err
		}
		skips.Add(q, id)
		return errDeferred
	})); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()

	ac := asynq.NewClientFromRedisClient(rdb)
	if _, err := ac.Enqueue(asynq.NewTask("t", []byte("x")), asynq.Queue("q"), asynq.TaskID("a"), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	var info *asynq.TaskInfo
	testutil.Poll(t, 20*time.Second, "the task to be scheduled", func() bool {
		var err error
		info, err = insp.GetTaskInfo("q", "a")
		return err == nil && info.State == asynq.TaskStateScheduled && skips.Len() == 0
	})
	if v := deferErr.Load(); v != nil {
		t.Fatal(v)
	}
	if info.Retried != 0 || info.MaxRetry != 0 || info.LastErr != "" {
		t.Fatalf("deferred task: retried %d, max retry %d, last error %q; want 0, 0, none", info.Retried, info.MaxRetry, info.LastErr)
	}
	if want := time.Now().Add(time.Hour); info.NextProcessAt.Before(want.Add(-time.Minute)) || info.NextProcessAt.After(want.Add(time.Minute)) {
		t.Fatalf("next process at %s; want about %s", info.NextProcessAt, want)
	}
	if n, _ := rdb.ZCard(ctx, LeaseKey("q")).Result(); n != 0 {
		t.Fatalf("lease set holds %d entries; want 0", n)
	}
	if n, _ := rdb.LLen(ctx, ActiveKey("q")).Result(); n != 0 {
		t.Fatalf("active list holds %d entries; want 0", n)
	}
	if f, _ := rdb.Get(ctx, FailedTotalKey("q")).Int(); f != 0 {
		t.Fatalf("failed total %d; want 0", f)
	}
	if runs.Load() != 1 {
		t.Fatalf("ran %d times; want 1", runs.Load())
	}

	// Promoting it makes it pending, and the server runs it again.
	ok, err := PromoteScheduled(ctx, rdb, "q", "a")
	if err != nil || !ok {
		t.Fatalf("PromoteScheduled = %v, %v; want true", ok, err)
	}
	testutil.Poll(t, 20*time.Second, "the promoted task to run again and be deferred", func() bool {
		info, err := insp.GetTaskInfo("q", "a")
		return runs.Load() == 2 && err == nil && info.State == asynq.TaskStateScheduled
	})
	// Shutdown waits until asynq's processor has handled both outcomes.
	s.Shutdown()
	if n := notFound.Load(); n != 0 {
		t.Fatalf("%d scripts answered NOT FOUND; want asynq's outcome script dropped", n)
	}
	if n := skips.Len(); n != 0 {
		t.Fatalf("%d skips left; want each consumed", n)
	}
	if ok, err := PromoteScheduled(ctx, rdb, "q", "missing"); ok || err != nil {
		t.Fatalf("PromoteScheduled(missing) = %v, %v; want false, nil", ok, err)
	}
}

// TestDeferActiveNotActive: a task that is not in the active list is left
// alone.
func TestDeferActiveNotActive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ok, err := DeferActive(ctx, rdb, "q", "nope", time.Now())
	if ok || err != nil {
		t.Fatalf("DeferActive = %v, %v; want false, nil", ok, err)
	}
	if n, _ := rdb.ZCard(ctx, ScheduledKey("q")).Result(); n != 0 {
		t.Fatalf("scheduled set holds %d; want 0", n)
	}
}

// notFoundCounter counts the commands and pipelined commands Redis answers
// with NOT FOUND (asynq's outcome scripts for a task no longer active).
type notFoundCounter struct{ n *atomic.Int32 }

func (h notFoundCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h notFoundCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(cmd)
		return err
	}
}

func (h notFoundCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.count(c)
		}
		return err
	}
}

func (h notFoundCounter) count(c redis.Cmder) {
	if err := c.Err(); err != nil && strings.Contains(err.Error(), "NOT FOUND") {
		h.n.Add(1)
	}
}
