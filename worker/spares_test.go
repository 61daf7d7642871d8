package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// registeredServers returns how many asynq servers asynq lists.
func (e *env) registeredServers(t *testing.T) int {
	t.Helper()
	infos, err := e.client.Inspector().Servers()
	if err != nil {
		t.Fatalf("Inspector.Servers: %v", err)
	}
	return len(infos)
}

// TestPushSparesFollowTheWork: with worker.wake push an idle worker runs
// one asynq server; when every slot of it is busy the spares start and
// take the tasks waiting, every task runs once, and the spares stop once
// idle for Options.SpareIdle, the first server staying.
func TestPushSparesFollowTheWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	release := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:spare", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		<-release
		id, _ := asynq.GetTaskID(ctx)
		mu.Lock()
		seen[id]++
		mu.Unlock()
		return nil
	}))
	cfg := e.pushConfig()
	cfg.Worker.Concurrency = 6 // 2 slots per server
	opts := e.options(t, cfg, reg)
	opts.Servers = 3
	opts.SpareIdle = time.Second
	start(t, opts)
	waitingServers(t, rdb, 1)
	if n := e.registeredServers(t); n != 1 {
		t.Fatalf("an idle worker registers %d asynq servers; want 1 (the spares start with work)", n)
	}

	const n = 20
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "test:spare", Payload: []byte(`{}`)}
	}
	ids := e.enqueueMany(t, reqs)
	// The first server's 2 slots hold tasks that wait for release: the
	// spares must start to take the others.
	poll(t, "three asynq servers registered while the first is full", func() bool {
		return e.registeredServers(t) == 3
	})
	poll(t, "six tasks running, on every slot of the three servers", func() bool {
		qi, err := e.client.Inspector().GetQueueInfo("default")
		return err == nil && qi.Active == 6
	})
	close(release)
	poll(t, "every task processed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	poll(t, "the spares stopped after a second idle", func() bool {
		return e.registeredServers(t) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("task %s processed %d times; want once", id, seen[id])
		}
	}
}

// TestPushIdleWorkerSendsNoFetch: an idle worker at its defaults (but the
// fallback, a minute here) sends no fetch while no task arrives; one task
// then costs one fetch that finds it (and at most the empty one after).
func TestPushIdleWorkerSendsNoFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	done := make(chan struct{}, 1)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:idle", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		done <- struct{}{}
		return nil
	}))
	cfg := config.Default()
	cfg.Redis.Addr = e.redis.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.WakeFallback = time.Minute
	start(t, e.options(t, cfg, reg))
	waitingServers(t, rdb, 1)
	// Each fetch runs RPOPLPUSH on the pending list of every queue it
	// tries; the window spans a forwarder, heartbeat, janitor and orphan
	// check of the worker's own, which must not fetch.
	before := redistest.CommandCalls(t, rdb, "rpoplpush")
	window := time.NewTimer(6 * time.Second)
	<-window.C
	if got := redistest.CommandCalls(t, rdb, "rpoplpush") - before; got != 0 {
		t.Fatalf("the idle worker fetched (%d RPOPLPUSH) while no task arrived; want none", got)
	}
	e.enqueue(t, t.Context(), "test:idle", &tasks.EnqueueOptions{Queue: "critical"})
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("the task did not wake the idle worker")
	}
	// The first queue asynq tries is drawn by weight; the fetch that found
	// the task tried at most the three queues, the empty one after it all.
	poll(t, "the empty fetch after the task", func() bool {
		return redistest.CommandCalls(t, rdb, "rpoplpush")-before >= 1
	})
	if got := redistest.CommandCalls(t, rdb, "rpoplpush") - before; got > 6 {
		t.Fatalf("%d RPOPLPUSH for one task; want at most 6 (the fetch that found it and the empty one after)", got)
	}
}

// TestPushForeignProducerByFallback: tasks of a plain asynq.Client, which
// pushes no wake-up token, are all processed, by the fallback fetch,
// within worker.wake_fallback (plus the tests' slack).
func TestPushForeignProducerByFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	const n, fallback = 20, 2 * time.Second
	got := make(chan time.Time, n)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:foreign", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		got <- time.Now()
		return nil
	}))
	cfg := e.pushConfig()
	cfg.Worker.WakeFallback = fallback
	start(t, e.options(t, cfg, reg))
	waitingServers(t, rdb, 1)
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: e.redis.Addr()})
	defer client.Close()
	begin := time.Now()
	for range n {
		if _, err := client.Enqueue(asynq.NewTask("test:foreign", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if tokens := rdb.Exists(t.Context(), "asynq:{default}:tuskq:wake").Val(); tokens != 0 {
		t.Fatal("a plain asynq client pushed wake-up tokens; the test needs it not to")
	}
	// The slack absorbs a loaded machine; without the fallback the tasks
	// would wait for a token that never comes.
	deadline := time.After(fallback + 10*time.Second)
	for i := range n {
		select {
		case at := <-got:
			if d := at.Sub(begin); d > fallback+10*time.Second {
				t.Fatalf("task %d picked up after %s; want within the fallback %s (plus slack)", i+1, d, fallback)
			}
		case <-deadline:
			t.Fatalf("%d of %d tasks of a plain asynq client processed within the fallback %s (plus slack)", i, n, fallback)
		}
	}
}

// backlogRamp bounds how long an idle worker takes, from the enqueue of a
// backlog, to run a task on every slot: the spares start on the first
// server's second task in a row, well within it (about 20 ms on an idle
// machine), where a worker that waited for its spares' fallback fetch or
// for the next retirement check would take seconds.
const backlogRamp = 2 * time.Second

// TestPushBacklogReachesFullConcurrency: an idle worker at its defaults
// (DefaultServers, concurrency 10: the first server has 3 slots) given a
// backlog runs a task on all 10 slots within backlogRamp of the enqueue.
func TestPushBacklogReachesFullConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	const concurrency, backlog = 10, 100
	release := make(chan struct{})
	full := make(chan time.Time, 1)
	var (
		mu       sync.Mutex
		inflight int
	)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:backlog", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		mu.Lock()
		inflight++
		if inflight == concurrency {
			full <- time.Now()
		}
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	cfg := e.pushConfig()
	cfg.Worker.Concurrency = concurrency
	start(t, e.options(t, cfg, reg))
	waitingServers(t, rdb, 1)
	if n := e.registeredServers(t); n != 1 {
		t.Fatalf("an idle worker registers %d asynq servers; want 1", n)
	}
	defer close(release)

	reqs := make([]tasks.Request, backlog)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "test:backlog", Payload: []byte(`{}`)}
	}
	begin := time.Now()
	e.enqueueMany(t, reqs)
	select {
	case at := <-full:
		ramp := at.Sub(begin)
		t.Logf("a backlog of %d tasks ran on all %d slots %s after the enqueue", backlog, concurrency, ramp.Round(time.Millisecond))
		if ramp > backlogRamp {
			t.Errorf("the backlog ran on all %d slots %s after the enqueue; want within %s", concurrency, ramp, backlogRamp)
		}
	case <-time.After(waitFor):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d slots running after %s with a backlog of %d tasks; want all", inflight, concurrency, waitFor, backlog)
	}
	qi, err := e.client.Inspector().GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Active != concurrency {
		t.Errorf("asynq lists %d active tasks; want %d (the worker's concurrency)", qi.Active, concurrency)
	}
	if n := e.registeredServers(t); n != worker.DefaultServers {
		t.Errorf("%d asynq servers registered under a backlog; want %d", n, worker.DefaultServers)
	}
}
