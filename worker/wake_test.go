package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// pushConfig is e's configuration with worker.wake push, one queue and
// a fallback of a minute: a task picked up within the tests' limits was
// announced by a token, not found by a fallback fetch.
func (e *env) pushConfig() config.Config {
	cfg := e.config()
	cfg.Worker.Wake = config.WakePush
	cfg.Worker.WakeFallback = time.Minute
	cfg.Worker.Queues = map[string]int{"default": 1}
	return cfg
}

// waitingServers waits until n blocking waits have begun on e's Redis.
func waitingServers(t *testing.T, rdb redis.UniversalClient, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("%d blocking waits", n), func() bool {
		return redistest.CommandCalls(t, rdb, "blpop") >= n
	})
}

// TestPushWakesOnEnqueue: the first server of an idle worker waits; a task
// enqueued with tasks.Client is processed long before the minute of the
// fallback, with one fetch for it (and at most the empty one after).
func TestPushWakesOnEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	done := make(chan string, 1)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:wake", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		done <- id
		return nil
	}))
	cfg := e.pushConfig()
	cfg.Worker.Concurrency = 8 // two slots for the first server: one task starts no spare
	opts := e.options(t, cfg, reg)
	opts.Servers = 4
	start(t, opts)
	waitingServers(t, rdb, 1) // the first server; the spares start with work
	fetches := redistest.CommandCalls(t, rdb, "rpoplpush")
	info := e.enqueue(t, t.Context(), "test:wake", nil)
	select {
	case id := <-done:
		if id != info.ID {
			t.Fatalf("processed %s; want %s", id, info.ID)
		}
	case <-time.After(waitFor):
		t.Fatal("the task did not wake the idle worker")
	}
	if got := redistest.CommandCalls(t, rdb, "rpoplpush") - fetches; got < 1 || got > 2 {
		t.Fatalf("%d fetches for one task; want the one its token caused (and at most the empty one after)", got)
	}
}

// TestPushShutdownAndPauseWhileWaiting: pause and shutdown end the
// minute-long waits at once.
func TestPushShutdownAndPauseWhileWaiting(t *testing.T) {
	t.Parallel()
	for _, pause := range []bool{false, true} {
		t.Run(fmt.Sprint("pause=", pause), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
			defer rdb.Close()
			reg := tasks.NewRegistry()
			reg.MustRegister("test:noop", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
			opts := e.options(t, e.pushConfig(), reg)
			opts.Servers = 4
			r := start(t, opts)
			waitingServers(t, rdb, 1)
			begin := time.Now()
			if pause {
				r.Pause()
			}
			if _, err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Fatalf("stopping an idle waiting worker took %s; want well under the minute of its waits", d)
			}
		})
	}
}

// TestPushManyIdleWorkersAndABurst: many idle workers wait; single tasks
// wake one server each, and a burst of tasks is processed, every task
// exactly once, within the tests' limits (the fallback is a minute), with
// a few empty fetches per server, not per task.
func TestPushManyIdleWorkersAndABurst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	const workers, n = 10, 2000
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:burst", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		mu.Lock()
		seen[id]++
		mu.Unlock()
		return nil
	}))
	for range workers {
		opts := e.options(t, e.pushConfig(), reg)
		opts.Servers = 2
		start(t, opts)
	}
	waitingServers(t, rdb, workers) // the first server of each

	// No thundering herd: tasks enqueued one at a time wake one server
	// each, which fetches the task and then once more to find the queue
	// empty; the other idle workers do not fetch (one queue: one
	// RPOPLPUSH per fetch).
	const single = 3
	before := redistest.CommandCalls(t, rdb, "rpoplpush")
	for range single {
		e.enqueue(t, t.Context(), "test:burst", nil)
	}
	poll(t, "the single tasks processed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == single
	})
	// Let the woken servers make their empty fetch, then count.
	poll(t, "the empty fetches after the single tasks", func() bool {
		return redistest.CommandCalls(t, rdb, "rpoplpush")-before >= 2*single
	})
	if got := redistest.CommandCalls(t, rdb, "rpoplpush") - before; got > 2*single+1 {
		t.Fatalf("%d fetches for %d tasks among %d idle workers; want at most %d (one server woken per task)", got, single, workers, 2*single+1)
	}

	before = redistest.CommandCalls(t, rdb, "rpoplpush")
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "test:burst", Payload: []byte(fmt.Sprint(i))}
	}
	ids := e.enqueueMany(t, reqs)
	poll(t, "every task of the burst processed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n+single
	})
	// Every task is fetched once; the empty fetches are those that ended
	// each server's run (and the tokens left when the queue ran dry),
	// a few per server, not per task.
	empty := redistest.CommandCalls(t, rdb, "rpoplpush") - before - n
	t.Logf("burst of %d tasks over %d idle workers: %d empty fetches", n, workers, empty)
	if limit := 4 * 2 * workers; empty > limit {
		t.Errorf("%d empty fetches for a burst of %d tasks over %d workers of 2 servers; want at most %d", empty, n, workers, limit)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("task %s processed %d times; want once", id, seen[id])
		}
	}
}

// TestPollModeStillPolls: with worker.wake poll the worker never waits in
// Redis and still processes tasks.
func TestPollModeStillPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	done := make(chan struct{}, 1)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:poll", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		done <- struct{}{}
		return nil
	}))
	cfg := e.config()
	cfg.Worker.Wake = config.WakePoll
	start(t, e.options(t, cfg, reg))
	e.enqueue(t, t.Context(), "test:poll", nil)
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("the polling worker did not process the task")
	}
	if n := redistest.CommandCalls(t, rdb, "blpop"); n != 0 {
		t.Fatalf("%d BLPOPs in poll mode; want 0", n)
	}
}
