package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// waitFor bounds every poll of the tests.
const waitFor = 30 * time.Second

// noDelay retries at once (asynq rounds retry times down to the second, so
// the task is due at the next forwarder check).
func noDelay(int, error, *asynq.Task) time.Duration { return 0 }

// logBuffer collects the JSON log lines of a worker.
type logBuffer struct{ testutil.LogBuffer }

// records parses every line logged so far.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	return b.Records(t, "")
}

// taskRecords returns the records about task id with message msg.
func (b *logBuffer) taskRecords(t *testing.T, id, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range b.records(t) {
		if r["task_id"] == id && r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// env is one test's Redis, producer and log.
type env struct {
	redis  *redistest.Server
	client *tasks.Client
	logs   *logBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := redistest.Start(t)
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	opt, err := redisconn.ConnOpt(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	// The tests' own enqueues set up the scene: a loaded machine (-race,
	// 2 cores) must not make them time out after the default 2 s.
	client, err := tasks.NewClient(opt, tasks.ClientOptions{EnqueueTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &env{redis: srv, client: client, logs: &logBuffer{}}
}

// config returns a configuration for fast tests against e's Redis.
func (e *env) config() config.Config {
	cfg := config.Default()
	cfg.Redis.Addr = e.redis.Addr()
	cfg.Worker.Listen = "127.0.0.1:0"
	cfg.Worker.Concurrency = 4
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.DelayedTaskCheckInterval = 20 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 2 * time.Second
	return cfg
}

// options returns worker options logging JSON into e.logs.
func (e *env) options(t *testing.T, cfg config.Config, reg *tasks.Registry) worker.Options {
	t.Helper()
	logger, err := logging.New(e.logs, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return worker.Options{Config: cfg, Logger: logger, Registry: reg, RetryDelay: noDelay}
}

// running is a worker started by a test.
type running struct {
	*worker.Worker
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the worker and returns Run's result and how long Run took to
// return.
func (r *running) stop(t *testing.T) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // later stops see the same result
		return time.Since(start), err
	case <-time.After(waitFor):
		t.Fatal("worker did not stop within 30s")
		return 0, nil
	}
}

// start runs a worker and waits until it is ready; the test's cleanup
// stops it.
func start(t *testing.T, opts worker.Options) *running {
	t.Helper()
	w, err := worker.New(opts)
	if err != nil {
		t.Fatalf("worker.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	select {
	case <-w.Ready():
	case err := <-r.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(waitFor):
		t.Fatal("worker not ready within 30s")
	}
	t.Cleanup(func() {
		if _, err := r.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// poll calls cond until it returns true, failing the test after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Poll(t, waitFor, what, cond)
}

// wait waits until the task is completed or archived.
func (e *env) wait(t *testing.T, info *tasks.TaskInfo) *asynq.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	got, err := e.client.Wait(ctx, info.Queue, info.ID)
	if err != nil {
		t.Fatalf("wait for task %s: %v", info.ID, err)
	}
	return got
}

// enqueue enqueues one task or fails the test.
func (e *env) enqueue(t *testing.T, ctx context.Context, typ string, opts *tasks.EnqueueOptions) *tasks.TaskInfo {
	t.Helper()
	info, err := e.client.Enqueue(ctx, typ, []byte(`{}`), opts)
	if err != nil {
		t.Fatalf("enqueue %s: %v", typ, err)
	}
	return info
}

// enqueueMany enqueues the requests or fails the test, returning the IDs.
func (e *env) enqueueMany(t *testing.T, reqs []tasks.Request) []string {
	t.Helper()
	ids := make([]string, len(reqs))
	for i, res := range e.client.EnqueueMany(t.Context(), reqs, 32) {
		if res.Err != nil {
			t.Fatalf("enqueue request %d: %v", i, res.Err)
		}
		ids[i] = res.Info.ID
	}
	return ids
}

// get fetches path from the worker's endpoint.
func get(t *testing.T, w *worker.Worker, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + w.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// metricLine returns the sample line of name with the labels, such as
// `tuskq_tasks_processed_total{queue="default",task_type="x"} 3`, or "".
func metricLine(body, prefix string) string { return testutil.MetricLine(body, prefix) }

// maxRetry returns a pointer for EnqueueOptions.MaxRetry.
func maxRetry(n int) *int { return &n }

// errBoom is the failure of the always-failing test processor.
var errBoom = errors.New("boom")

// counter counts calls per key.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	return c.n[key]
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}
