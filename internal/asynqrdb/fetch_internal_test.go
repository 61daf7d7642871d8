package asynqrdb

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// TestDequeueScriptIsAsynqs checks that ServerClient recognizes asynq's
// dequeue script: once a bare asynq server has fetched a task, Redis
// knows the SHA-1 of asynqDequeueScript. A new asynq version with another
// script fails here, instead of silently falling back to one round trip
// per queue.
func TestDequeueScriptIsAsynqs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("fetch:x", nil)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	server := asynq.NewServer(opt, asynq.Config{Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := server.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		done <- struct{}{}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("asynq did not process the task")
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ok, err := rdb.ScriptExists(t.Context(), sha1Hex(asynqDequeueScript)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !ok[0] {
		t.Fatal("asynqDequeueScript is not the script asynq runs to dequeue: update it from asynq's internal/rdb/rdb.go")
	}
}

func TestFetchOrder(t *testing.T) {
	t.Parallel()
	qs := FetchQueues(map[string]int{"critical": 6, "default": 3, "low": 1, "off": 0, " ": 4})
	if got := []FetchQueue{{"critical", 6}, {"default", 3}, {"low", 1}}; !slices.Equal(qs, got) {
		t.Fatalf("FetchQueues = %v; want %v (asynq drops blank names and weights below 1)", qs, got)
	}
	strict := NewMultiFetch(nil, qs, true)
	for first, want := range map[string][]string{
		"critical": {"critical", "default", "low"},
		"default":  {"default", "critical", "low"},
		"low":      {"low", "critical", "default"},
	} {
		if got := strict.order(first); !slices.Equal(got, want) {
			t.Errorf("strict order after %s = %v; want %v", first, got, want)
		}
	}
	// Weighted: after critical, default comes next with probability 3/4
	// (3 of the remaining weight 4), as in asynq's shuffle of the weighted
	// list; 5 standard deviations of tolerance.
	weighted := NewMultiFetch(nil, qs, false)
	const n = 20000
	second := 0
	for range n {
		o := weighted.order("critical")
		if len(o) != 3 || o[0] != "critical" {
			t.Fatalf("weighted order = %v", o)
		}
		if o[1] == "default" {
			second++
		}
	}
	p, got := 0.75, float64(second)/n
	if tol := 5 * math.Sqrt(p*(1-p)/n); math.Abs(got-p) > tol {
		t.Errorf("default second in %.3f of weighted orders after critical; want %.2f ± %.3f", got, p, tol)
	}
}

// countingHook counts the dequeue scripts that reach Redis.
type countingHook struct{ single, multi atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	single, multi := sha1Hex(asynqDequeueScript), sha1Hex(multiDequeueScript)
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); len(args) > 1 {
			switch args[1] {
			case single, asynqDequeueScript:
				h.single.Add(1)
			case multi, multiDequeueScript:
				h.multi.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFetchOneRoundTripPerTask drains tasks that all sit in the lowest of
// three weighted queues (and one paused queue) through a MultiFetch: each
// fetch is one multi-queue script, where asynq alone probes empty queues
// first, and the paused queue is left alone.
func TestFetchOneRoundTripPerTask(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	const n = 300
	for i := range n {
		if _, err := client.Enqueue(asynq.NewTask("fetch:x", []byte(fmt.Sprint(i))), asynq.Queue("low")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("fetch:paused", nil), asynq.Queue("critical")); err != nil {
		t.Fatal(err)
	}
	if err := insp.PauseQueue("critical"); err != nil {
		t.Fatal(err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	hook := &countingHook{}
	rdb.AddHook(hook)
	queues := map[string]int{"critical": 6, "default": 3, "low": 1}
	var processed, paused atomic.Int64
	server := asynq.NewServerFromRedisClient(NewServerClient(rdb, NewMultiFetch(rdb, FetchQueues(queues), false), nil), asynq.Config{
		Concurrency: 1, Queues: queues, TaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	if err := server.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		if task.Type() == "fetch:paused" {
			paused.Add(1)
		}
		processed.Add(1)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for processed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks processed", processed.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	single, multi := hook.single.Load(), hook.multi.Load()
	// n fetches, plus the idle polls since the queue drained (at most one
	// per 25 ms, the shortest sleep of asynq's poll at 50 ms).
	if single != 0 || multi < n || multi > n+10 {
		t.Errorf("dequeue scripts sent: %d asynq single-queue, %d multi-queue; want 0 and %d (+ a few idle polls)", single, multi, n)
	}
	if paused.Load() != 0 {
		t.Error("a task of the paused queue was fetched")
	}
	// Once the queue is resumed, its task is fetched.
	if err := insp.UnpauseQueue("critical"); err != nil {
		t.Fatal(err)
	}
	for paused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the task of the resumed queue was not fetched")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
