package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

func TestShutdownFinishesShortTasksAndHandsBackLongOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var (
		started   = make(chan string, 2)
		release   = make(chan struct{})
		cancelled = make(chan error, 1)
	)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:long", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- "long"
		<-ctx.Done()
		cancelled <- ctx.Err()
		return ctx.Err()
	}))
	reg.MustRegister("test:short", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- "short"
		<-release
		return nil
	}))
	cfg := e.config()
	cfg.Worker.Concurrency = 2
	cfg.Worker.ShutdownTimeout = 500 * time.Millisecond
	w := start(t, e.options(t, cfg, reg))

	ctx := t.Context()
	long := e.enqueue(t, ctx, "test:long", &tasks.EnqueueOptions{MaxRetry: maxRetry(0), Retention: time.Hour})
	short := e.enqueue(t, ctx, "test:short", &tasks.EnqueueOptions{Retention: time.Hour})
	for range 2 {
		select {
		case <-started:
		case <-time.After(waitFor):
			t.Fatal("tasks did not start")
		}
	}

	stopped := make(chan time.Duration, 1)
	go func() {
		begin := time.Now()
		w.cancel()
		err := <-w.done
		w.done <- err // for the cleanup's stop
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		stopped <- time.Since(begin)
	}()
	// The short task finishes once shutdown has begun, within the timeout.
	poll(t, "/readyz to report the shutdown", func() bool {
		code, body := get(t, w.Worker, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "shutting down")
	})
	close(release)

	var took time.Duration
	select {
	case took = <-stopped:
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
	}
	if took < cfg.Worker.ShutdownTimeout || took > cfg.Worker.ShutdownTimeout+5*time.Second {
		t.Errorf("shutdown took %s; want the shutdown timeout %s plus a little", took, cfg.Worker.ShutdownTimeout)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("long task's context ended with %v; want context.Canceled", err)
		}
	case <-time.After(waitFor):
		t.Error("long task's context was not cancelled after it was handed back")
	}

	insp := e.client.Inspector()
	if got, err := insp.GetTaskInfo("default", short.ID); err != nil || got.State != asynq.TaskStateCompleted {
		t.Errorf("short task: %v, %v; want completed", got, err)
	}
	got, err := insp.GetTaskInfo("default", long.ID)
	if err != nil || got.State != asynq.TaskStatePending || got.Retried != 0 {
		t.Fatalf("long task after shutdown: %+v, %v; want pending with 0 retries", got, err)
	}

	// The cut-off attempt is logged as handed back, not as a failure.
	poll(t, "the hand-back log line", func() bool {
		return len(e.logs.taskRecords(t, long.ID, "task handed back")) == 1
	})
	if r := e.logs.taskRecords(t, long.ID, "task handed back")[0]; r["outcome"] != "requeued" || r["level"] != "INFO" {
		t.Errorf("hand-back line = %v", r)
	}
	if failed := e.logs.taskRecords(t, long.ID, "task failed"); len(failed) != 0 {
		t.Errorf("handed-back task logged as failed: %v", failed)
	}

	// A second worker picks it up: nothing was lost, no attempt was charged
	// (max_retry is 0, so a charged attempt would have archived it).
	reg2 := tasks.NewRegistry()
	reg2.MustRegister("test:long", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	start(t, e.options(t, e.config(), reg2))
	if got := e.wait(t, long); got.State != asynq.TaskStateCompleted {
		t.Errorf("long task on the second worker: %s; want completed", got.State)
	}
}

func TestThreeWorkersShareTasksWithoutDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var (
		mu   sync.Mutex
		seen = map[string][]int{} // task ID → workers that processed it
	)
	for i := range 3 {
		reg := tasks.NewRegistry()
		reg.MustRegister("test:count", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			mu.Lock()
			seen[id] = append(seen[id], i)
			mu.Unlock()
			return nil
		}))
		// Each Worker has its own asynq server and Redis connections: to
		// Redis they are three processes.
		start(t, e.options(t, e.config(), reg))
	}
	const n = 3000
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "test:count", Payload: []byte(fmt.Sprint(i))}
	}
	ids := e.enqueueMany(t, reqs)

	insp := e.client.Inspector()
	poll(t, "all tasks processed and the queue drained", func() bool {
		mu.Lock()
		done := len(seen) == n
		mu.Unlock()
		q, err := insp.GetQueueInfo("default")
		return done && err == nil && q.Pending+q.Active+q.Retry+q.Scheduled == 0
	})
	mu.Lock()
	defer mu.Unlock()
	perWorker := make([]int, 3)
	for _, id := range ids {
		by := seen[id]
		if len(by) != 1 {
			t.Errorf("task %s processed by workers %v; want exactly one", id, by)
			continue
		}
		perWorker[by[0]]++
	}
	if len(seen) != n {
		t.Errorf("%d distinct tasks processed; want %d", len(seen), n)
	}
	t.Logf("tasks per worker: %v", perWorker)
	for i, c := range perWorker {
		if c == 0 {
			t.Errorf("worker %d processed no task; want every worker to share the work (%v)", i, perWorker)
		}
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var done counter
	reg := tasks.NewRegistry()
	reg.MustRegister("test:ok", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		done.add("ok")
		return nil
	}))
	// The worker reaches Redis through a gate, so that taking Redis away
	// and back cannot lose its port to a parallel test.
	gate := redistest.NewGate(t, e.redis.Addr())
	cfg := e.config()
	cfg.Redis.Addr = gate.Addr()
	w := start(t, e.options(t, cfg, reg))

	for path, want := range map[string]string{"/healthz": `{"status":"ok"}`, "/readyz": `{"status":"ready"}`} {
		if code, body := get(t, w.Worker, path); code != http.StatusOK || strings.TrimSpace(body) != want {
			t.Errorf("GET %s = %d %s; want 200 %s", path, code, body, want)
		}
	}

	for range 5 {
		e.enqueue(t, t.Context(), "test:ok", nil)
	}
	const want = `tuskq_tasks_processed_total{queue="default",task_type="test:ok"} 5`
	var body string
	poll(t, "5 tasks in the metrics", func() bool {
		_, body = get(t, w.Worker, "/metrics")
		return metricLine(body, `tuskq_tasks_processed_total{queue="default",task_type="test:ok"}`) == want
	})
	for _, name := range []string{"tuskq_task_duration_seconds_count", "tuskq_tasks_in_flight", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}

	if err := gate.Down(); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, w.Worker, "/readyz")
	var r struct{ Status, Reason string }
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	prefix := "redis at " + gate.Addr() + ": "
	if code != http.StatusServiceUnavailable || r.Status != "unavailable" || !strings.HasPrefix(r.Reason, prefix) {
		t.Errorf("/readyz with Redis down = %d %s; want 503, status unavailable, reason starting %q", code, body, prefix)
	}
	if code, _ := get(t, w.Worker, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with Redis down = %d; want 200: the process is alive", code)
	}

	// Ready again once Redis is back, without a restart of the worker.
	if err := gate.Up(); err != nil {
		t.Fatal(err)
	}
	poll(t, "/readyz to recover", func() bool {
		code, _ := get(t, w.Worker, "/readyz")
		return code == http.StatusOK
	})
}

// A paused worker fetches nothing: a task enqueued after Pause stays
// pending and the dequeue script's RPOPLPUSH is not run once, while the
// same worker's forwarder (which Pause leaves running) moves a task
// scheduled 1 s later to pending: the worker's loops demonstrably ran
// long after the first task was there to fetch (a running worker polls
// every 10 ms here). A new worker then processes both.
func TestPauseStopsFetching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	var runs counter
	reg := tasks.NewRegistry()
	reg.MustRegister("test:ok", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		runs.add(id)
		return nil
	}))
	w := start(t, e.options(t, e.config(), reg))
	keep := &tasks.EnqueueOptions{Queue: "default", Retention: time.Hour}
	if got := e.wait(t, e.enqueue(t, ctx, "test:ok", keep)); got.State != asynq.TaskStateCompleted {
		t.Fatalf("task before the pause: %s; want completed", got.State)
	}
	w.Pause()
	code, body := get(t, w.Worker, "/readyz")
	const want = `{"status":"unavailable","reason":"worker is paused: it fetches no new tasks"}`
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != want {
		t.Errorf("/readyz when paused = %d %s; want 503 %s", code, body, want)
	}
	w.Pause() // a second pause is harmless

	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	fetches := redistest.CommandCalls(t, rdb, "rpoplpush")
	after := e.enqueue(t, ctx, "test:ok", keep)
	later := e.enqueue(t, ctx, "test:ok", &tasks.EnqueueOptions{Queue: "default", Retention: time.Hour, ProcessIn: time.Second})
	insp := e.client.Inspector()
	poll(t, "the paused worker's forwarder to move the scheduled task to pending", func() bool {
		ti, err := insp.GetTaskInfo("default", later.ID)
		return err == nil && ti.State != asynq.TaskStateScheduled
	})
	for _, id := range []string{after.ID, later.ID} {
		if ti, err := insp.GetTaskInfo("default", id); err != nil || ti.State != asynq.TaskStatePending {
			t.Errorf("task %s enqueued after the pause: %v; want pending (not fetched)", id, taskState(ti, err))
		}
		if n := runs.get(id); n != 0 {
			t.Errorf("task %s ran %d times on the paused worker; want 0", id, n)
		}
	}
	if n := redistest.CommandCalls(t, rdb, "rpoplpush") - fetches; n != 0 {
		t.Errorf("the paused worker ran the dequeue script's RPOPLPUSH %d times; want 0", n)
	}
	if _, err := w.stop(t); err != nil {
		t.Fatal(err)
	}

	// A paused worker cannot resume: a new one takes the tasks.
	start(t, e.options(t, e.config(), reg))
	for _, info := range []*tasks.TaskInfo{after, later} {
		if got := e.wait(t, info); got.State != asynq.TaskStateCompleted || runs.get(info.ID) != 1 {
			t.Errorf("task %s on the new worker: %s, %d runs; want completed once", info.ID, got.State, runs.get(info.ID))
		}
	}
}

// taskState describes an Inspector answer in a failure message.
func taskState(ti *asynq.TaskInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return ti.State.String()
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	cfg := e.config()
	addr := redistest.UnreachableAddr(t)
	cfg.Redis.Addr = addr
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(t.Context())
	want := fmt.Sprintf("worker: cannot reach Redis at %s: dial tcp %s: connect: connection refused", addr, addr)
	if !errors.Is(err, worker.ErrRedisUnreachable) || err == nil || err.Error() != want {
		t.Errorf("Run with Redis down = %v; want %q", err, want)
	}
	if err := w.Run(t.Context()); !errors.Is(err, worker.ErrAlreadyRun) {
		t.Errorf("second Run = %v; want ErrAlreadyRun", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	good := config.Default()
	bad := config.Default()
	bad.Worker.Concurrency = 0
	bad.Worker.Queues = map[string]int{"default": 0}
	reg := tasks.NewRegistry()
	for _, tc := range []struct {
		name string
		opts worker.Options
		want string
	}{
		{"no registry", worker.Options{Config: good},
			"worker: bad worker options: Registry is nil; pass a *tasks.Registry with your processors registered"},
		{"bad config", worker.Options{Config: bad, Registry: reg},
			"config: worker.concurrency: 0 is not valid; expected at least 1\n" +
				"config: worker.queues.default: 0 is not valid; expected a weight of at least 1"},
		{"gatherer alone", worker.Options{Config: good, Registry: reg, Gatherer: prometheus.NewRegistry()},
			"worker: bad worker options: Gatherer is set but Registerer is nil; set both, or neither to use the worker's own registry"},
		{"registerer not a gatherer", worker.Options{Config: good, Registry: reg, Registerer: registererOnly{prometheus.NewRegistry()}},
			"worker: bad worker options: Registerer worker_test.registererOnly is not a prometheus.Gatherer; set Gatherer too"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := worker.New(tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New = %v; want %q", err, tc.want)
			}
		})
	}

	// Two workers cannot register their metrics with one registry.
	shared := prometheus.NewRegistry()
	opts := worker.Options{Config: good, Registry: reg, Registerer: shared}
	if _, err := worker.New(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.New(opts); err == nil || !strings.HasPrefix(err.Error(), "worker: register metrics: ") {
		t.Errorf("second New on one registry = %v; want a register metrics error", err)
	}
}

// registererOnly hides the Gatherer methods of a registry.
type registererOnly struct{ r *prometheus.Registry }

func (r registererOnly) Register(c prometheus.Collector) error   { return r.r.Register(c) }
func (r registererOnly) MustRegister(cs ...prometheus.Collector) { r.r.MustRegister(cs...) }
func (r registererOnly) Unregister(c prometheus.Collector) bool  { return r.r.Unregister(c) }
