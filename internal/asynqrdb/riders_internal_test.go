package asynqrdb

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// incrScript increments KEYS[1] and answers the new value.
var incrScript = redis.NewScript(`return redis.call("INCR", KEYS[1])`)

// TestRidersGoWithTheOutcome checks that a task's riders are sent in the
// same pipeline as its outcome script (one round trip for both), with
// their replies, even when Redis had not cached the rider's script; that
// Flush sends them at once; and that Run sends those whose outcome never
// came.
func TestRidersGoWithTheOutcome(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	var pipelines, alone atomic.Int64
	rdb.AddHook(roundTripCounter{pipe: func() { pipelines.Add(1) }, one: func() { alone.Add(1) }})

	outcome := redis.NewScript(`return redis.call("SET", KEYS[1], "done")`)
	if err := outcome.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	riders := NewRiders()
	c := NewServerClient(rdb, nil, NewScriptBatcher(rdb))
	c.SendRiders(riders)

	var mu sync.Mutex
	var replies []int64
	done := func(cmd *redis.Cmd) {
		n, err := cmd.Int64()
		if err != nil {
			t.Errorf("rider reply: %v", err)
		}
		mu.Lock()
		replies = append(replies, n)
		mu.Unlock()
	}
	riders.Add("q", "t1", Rider{Script: incrScript, Keys: []string{"rode"}, Done: done}, Rider{Script: incrScript, Keys: []string{"rode"}, Done: done})
	if riders.Len() != 1 {
		t.Fatalf("Len = %d, want 1", riders.Len())
	}
	pipelines.Store(0)
	alone.Store(0)
	if err := c.EvalSha(ctx, outcome.Hash(), []string{TaskKey("q", "t1")}).Err(); err != nil {
		t.Fatal(err)
	}
	// The rider's script was not cached: its NOSCRIPT reply is followed
	// by one EVAL each (alone), the outcome and both EVALSHAs share one
	// pipeline.
	if got := pipelines.Load(); got != 1 {
		t.Errorf("the outcome and its riders took %d pipelines, want 1", got)
	}
	if n, _ := rdb.Get(ctx, "rode").Int64(); n != 2 {
		t.Errorf("rode = %d, want 2 (both riders ran)", n)
	}
	mu.Lock()
	if len(replies) != 2 {
		t.Errorf("replies %v, want two", replies)
	}
	mu.Unlock()
	if riders.Len() != 0 {
		t.Errorf("Len = %d after the outcome, want 0", riders.Len())
	}

	// Cached now: a second outcome costs one pipeline and nothing alone.
	riders.Add("q", "t2", Rider{Script: incrScript, Keys: []string{"rode"}})
	pipelines.Store(0)
	alone.Store(0)
	if err := c.EvalSha(ctx, outcome.Hash(), []string{TaskKey("q", "t2")}).Err(); err != nil {
		t.Fatal(err)
	}
	if p, a := pipelines.Load(), alone.Load(); p != 1 || a != 0 {
		t.Errorf("outcome with a cached rider: %d pipelines and %d lone calls, want 1 and 0", p, a)
	}

	// Flush sends at once; a task with no riders sends nothing.
	riders.Add("q", "t3", Rider{Script: incrScript, Keys: []string{"flushed"}})
	riders.Flush(ctx, rdb, "q", "nope")
	riders.Flush(ctx, rdb, "q", "t3")
	if n, _ := rdb.Get(ctx, "flushed").Int64(); n != 1 {
		t.Errorf("flushed = %d, want 1", n)
	}

	// Run sends the riders whose outcome never came.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go riders.Run(rctx, rdb, 10*time.Millisecond, 20*time.Millisecond)
	riders.Add("q", "t4", Rider{Script: incrScript, Keys: []string{"stale"}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := rdb.Get(ctx, "stale").Int64(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not send a stale rider within 30s")
		}
		time.Sleep(10 * time.Millisecond) // polling Redis for the condition
	}
	if riders.Len() != 0 {
		t.Errorf("Len = %d after Run sent the stale rider, want 0", riders.Len())
	}
}

// roundTripCounter counts pipelines of scripts and lone commands.
type roundTripCounter struct{ pipe, one func() }

func (h roundTripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h roundTripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.one()
		return next(ctx, cmd)
	}
}

func (h roundTripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "evalsha" { // not a connection's set-up
			h.pipe()
		}
		return next(ctx, cmds)
	}
}
