package processors

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
)

// attempt is one run of a task in the test worker.
type attempt struct {
	retry int
	err   string
}

// worker is a real asynq server, on its own redis-server, serving the
// built-ins with retries that come due at once.
type worker struct {
	client *asynq.Client
	insp   *asynq.Inspector

	mu       sync.Mutex
	attempts map[string][]attempt // by task ID
}

// startWorker starts redis-server and an asynq server dispatching to the
// built-ins registered with opts; both stop when the test ends.
func startWorker(t *testing.T, opts Options) *worker {
	t.Helper()
	redis := redistest.Start(t)
	conn := asynq.RedisClientOpt{Addr: redis.Addr()}
	reg := tasks.NewRegistry()
	if err := RegisterBuiltins(reg, opts); err != nil {
		t.Fatal(err)
	}
	w := &worker{attempts: make(map[string][]attempt)}
	srv := asynq.NewServer(conn, asynq.Config{
		Concurrency:              4,
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 20 * time.Millisecond,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		ShutdownTimeout:          2 * time.Second,
		Logger:                   logging.NewAsynqLogger(nil),
	})
	record := tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		err := reg.ProcessTask(ctx, t)
		id, _ := asynq.GetTaskID(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		a := attempt{retry: retry}
		if err != nil {
			a.err = err.Error()
		}
		w.mu.Lock()
		w.attempts[id] = append(w.attempts[id], a)
		w.mu.Unlock()
		return err
	})
	if err := srv.Start(record); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	w.client = asynq.NewClient(conn)
	w.insp = asynq.NewInspector(conn)
	t.Cleanup(func() {
		_ = w.client.Close()
		_ = w.insp.Close()
	})
	return w
}

// run enqueues a task with the given ID and max retry and waits until it is
// completed or archived.
func (w *worker) run(t *testing.T, task *asynq.Task, id string, maxRetry int) *asynq.TaskInfo {
	t.Helper()
	if _, err := w.client.EnqueueContext(t.Context(), task, asynq.TaskID(id), asynq.MaxRetry(maxRetry), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := w.insp.GetTaskInfo("default", id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s after 20s", id, info.State)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not synchronisation
	}
}

// assertAttempts checks the errors of each attempt of task id, in order;
// "" is a success.
func (w *worker) assertAttempts(t *testing.T, id string, want ...string) {
	t.Helper()
	w.mu.Lock()
	got := slices.Clone(w.attempts[id])
	w.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("task %s ran %d times %+v, want %d", id, len(got), got, len(want))
	}
	for i, a := range got {
		if a.retry != i || a.err != want[i] {
			t.Errorf("task %s attempt %d: retry %d, err %q; want retry %d, err %q", id, i+1, a.retry, a.err, i, want[i])
		}
	}
}

func TestThroughAsynq(t *testing.T) {
	t.Parallel()
	var flaky atomic.Int32
	srv, reqs := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if flaky.Add(1) <= 2 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "done")
		case "/missing":
			http.NotFound(w, r)
		}
	})
	host := hostOf(srv)
	w := startWorker(t, Options{HTTPAllowHosts: []string{host}, Version: "test"})

	t.Run("fail 3 times then succeed", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeFail, []byte(`{"times":3}`)), "fail-3", 5)
		if info.State != asynq.TaskStateCompleted || info.Retried != 3 {
			t.Errorf("state %s after %d retries, want completed after 3", info.State, info.Retried)
		}
		w.assertAttempts(t, "fail-3",
			"demo:fail: planned failure 1 of 3",
			"demo:fail: planned failure 2 of 3",
			"demo:fail: planned failure 3 of 3",
			"")
	})
	t.Run("fail always", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeFail, []byte(`{"times":-1}`)), "fail-always", 2)
		if info.State != asynq.TaskStateArchived || info.LastErr != "demo:fail: planned failure 3 of unlimited (times is -1)" {
			t.Errorf("state %s, last error %q", info.State, info.LastErr)
		}
		w.assertAttempts(t, "fail-always",
			"demo:fail: planned failure 1 of unlimited (times is -1)",
			"demo:fail: planned failure 2 of unlimited (times is -1)",
			"demo:fail: planned failure 3 of unlimited (times is -1)")
	})
	t.Run("fail skip retry", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeFail, []byte(`{"skip_retry":true}`)), "fail-skip", 5)
		if info.State != asynq.TaskStateArchived {
			t.Errorf("state %s, want archived", info.State)
		}
		w.assertAttempts(t, "fail-skip", "demo:fail: planned failure, not retried (skip_retry)")
	})
	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeEcho, []byte(`{"hello":"world"}`)), "echo", 0)
		if info.State != asynq.TaskStateCompleted || string(info.Result) != `{"hello":"world"}` {
			t.Errorf("state %s, result %q", info.State, info.Result)
		}
	})
	t.Run("http retried on 503 then ok", func(t *testing.T) {
		t.Parallel()
		const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		task := asynq.NewTaskWithHeaders(TypeHTTPRequest, []byte(`{"url":"`+srv.URL+`/flaky","body":"x"}`),
			map[string]string{"traceparent": traceparent})
		info := w.run(t, task, "hook-1", 5)
		if info.State != asynq.TaskStateCompleted || info.Retried != 2 {
			t.Errorf("state %s after %d retries, want completed after 2", info.State, info.Retried)
		}
		var res httpResult
		if err := json.Unmarshal(info.Result, &res); err != nil || res != (httpResult{Status: 200, Body: "done"}) {
			t.Errorf("result %s (%v), want status 200 and body \"done\"", info.Result, err)
		}
		e503 := "http:request: POST " + host + " responded 503 Service Unavailable (retryable; Retry-After 1s)"
		w.assertAttempts(t, "hook-1", e503, e503, "")
		for i := range 3 {
			got := <-reqs
			if k := got.header.Get(HeaderIdempotencyKey); k != "hook-1" {
				t.Errorf("request %d: Idempotency-Key %q, want the task ID", i+1, k)
			}
			if tp := got.header.Get("traceparent"); tp != traceparent {
				t.Errorf("request %d: traceparent %q, want %q", i+1, tp, traceparent)
			}
		}
	})
}

func TestThroughAsynqNoRetry(t *testing.T) {
	t.Parallel()
	srv, _ := endpoint(t, http.NotFound)
	w := startWorker(t, Options{HTTPAllowHosts: []string{hostOf(srv)}})
	t.Run("404", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeHTTPRequest, []byte(`{"url":"`+srv.URL+`/gone"}`)), "hook-404", 5)
		want := "http:request: POST " + hostOf(srv) + ` responded 404 Not Found (not retried: a 4xx other than 408 and 429 needs a changed request): "404 page not found\n"`
		if info.State != asynq.TaskStateArchived || info.LastErr != want {
			t.Errorf("state %s, last error %q; want archived with %q", info.State, info.LastErr, want)
		}
		w.assertAttempts(t, "hook-404", want)
	})
	t.Run("host not allowed", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeHTTPRequest, []byte(`{"url":"http://169.254.169.254/latest/meta-data"}`)), "hook-denied", 5)
		const want = `http:request: host "169.254.169.254" is not in worker.http_allow_hosts; add it to the config to allow it`
		if info.State != asynq.TaskStateArchived || info.LastErr != want {
			t.Errorf("state %s, last error %q; want archived with %q", info.State, info.LastErr, want)
		}
		w.assertAttempts(t, "hook-denied", want)
	})
	t.Run("bad payload", func(t *testing.T) {
		t.Parallel()
		info := w.run(t, asynq.NewTask(TypeSleep, []byte(`{"ms":-5}`)), "sleep-bad", 5)
		const want = `demo:sleep: bad payload: field "ms": -5 is out of range; want 0 to 9223372036854 milliseconds`
		if info.State != asynq.TaskStateArchived || info.LastErr != want {
			t.Errorf("state %s, last error %q; want archived with %q", info.State, info.LastErr, want)
		}
	})
}
