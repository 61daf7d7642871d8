package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

func TestRetryWithBackoffThenArchive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var attempts counter
	reg := tasks.NewRegistry()
	reg.MustRegister("test:fail", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		attempts.add(id)
		return errBoom
	}))
	var (
		mu     sync.Mutex
		delays []int
	)
	opts := e.options(t, e.config(), reg)
	opts.RetryDelay = func(n int, err error, _ *asynq.Task) time.Duration {
		mu.Lock()
		delays = append(delays, n)
		mu.Unlock()
		return 0
	}
	start(t, opts)

	info := e.enqueue(t, t.Context(), "test:fail", &tasks.EnqueueOptions{MaxRetry: maxRetry(2)})
	got := e.wait(t, info)
	if got.State != asynq.TaskStateArchived || got.Retried != 2 || got.LastErr != "boom" {
		t.Errorf("task: state %s, retried %d, last error %q; want archived, 2, \"boom\"", got.State, got.Retried, got.LastErr)
	}
	if n := attempts.get(info.ID); n != 3 {
		t.Errorf("processor ran %d times; want 3 (1 + max_retry 2)", n)
	}
	mu.Lock()
	if !slices.Equal(delays, []int{0, 1}) {
		t.Errorf("RetryDelay called with retry counts %v; want [0 1]", delays)
	}
	mu.Unlock()

	lines := e.logs.taskRecords(t, info.ID, "task failed")
	var summary []string
	for _, l := range lines {
		summary = append(summary, fmt.Sprintf("%v/%v/%v/%v", l["level"], l["retry"], l["outcome"], l["error"]))
	}
	want := []string{"WARN/0/retry/boom", "WARN/1/retry/boom", "ERROR/2/archived/boom"}
	if !slices.Equal(summary, want) {
		t.Errorf("task failed lines (level/retry/outcome/error) = %q; want %q", summary, want)
	}
}

func TestSkipRetryArchivesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var attempts counter
	reg := tasks.NewRegistry()
	reg.MustRegister("test:bad", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		attempts.add(id)
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}))
	start(t, e.options(t, e.config(), reg))

	info := e.enqueue(t, t.Context(), "test:bad", &tasks.EnqueueOptions{MaxRetry: maxRetry(5)})
	got := e.wait(t, info)
	const wantErr = "bad payload: skip retry for the task"
	if got.State != asynq.TaskStateArchived || got.Retried != 0 || got.LastErr != wantErr {
		t.Errorf("task: state %s, retried %d, last error %q; want archived, 0, %q", got.State, got.Retried, got.LastErr, wantErr)
	}
	if n := attempts.get(info.ID); n != 1 {
		t.Errorf("processor ran %d times; want 1", n)
	}
}

func TestUnknownTypeRetriedThenArchived(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:ok", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	w := start(t, e.options(t, e.config(), reg))

	info := e.enqueue(t, t.Context(), "nope:nope", &tasks.EnqueueOptions{MaxRetry: maxRetry(1)})
	got := e.wait(t, info)
	const wantErr = `tasks: no processor registered for task type "nope:nope" (registered: test:ok)`
	if got.State != asynq.TaskStateArchived || got.Retried != 1 || got.LastErr != wantErr {
		t.Errorf("task: state %s, retried %d, last error %q; want archived, 1, %q", got.State, got.Retried, got.LastErr, wantErr)
	}
	// Unknown types share one label, so enqueuers cannot grow the metrics.
	_, body := get(t, w.Worker, "/metrics")
	const want = `tuskq_tasks_processed_total{queue="default",task_type="(unregistered)"} 2`
	if line := metricLine(body, `tuskq_tasks_processed_total{queue="default",task_type="(unregistered)"}`); line != want {
		t.Errorf("metrics line %q; want %q", line, want)
	}
}

func TestPanicIsLoggedAndRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:panic", tasks.ProcessorFunc(panicOnFirstAttempt))
	start(t, e.options(t, e.config(), reg))

	info := e.enqueue(t, t.Context(), "test:panic", &tasks.EnqueueOptions{MaxRetry: maxRetry(3), Retention: time.Hour})
	got := e.wait(t, info)
	if got.State != asynq.TaskStateCompleted || got.Retried != 1 {
		t.Fatalf("task: state %s, retried %d; want completed after 1 retry", got.State, got.Retried)
	}

	panics := e.logs.taskRecords(t, info.ID, "task processor panicked")
	if len(panics) != 1 {
		t.Fatalf("got %d panic lines; want 1", len(panics))
	}
	p := panics[0]
	stack, _ := p["stack"].(string)
	if p["level"] != "ERROR" || p["panic"] != "kaboom" || p["task_type"] != "test:panic" ||
		!strings.Contains(stack, "worker_test.panicOnFirstAttempt") {
		t.Errorf("panic line = %v; want level ERROR, panic kaboom, task_type test:panic and a stack through panicOnFirstAttempt", p)
	}
	failed := e.logs.taskRecords(t, info.ID, "task failed")
	if len(failed) != 1 || failed[0]["outcome"] != "retry" || failed[0]["error"] != "tasks: processor panicked: kaboom" {
		t.Errorf("task failed lines = %v; want one with outcome retry and error %q", failed, "tasks: processor panicked: kaboom")
	}
	done := e.logs.taskRecords(t, info.ID, "task done")
	if len(done) != 1 || done[0]["retry"] != float64(1) {
		t.Errorf("task done lines = %v; want one with retry 1", done)
	}
}

func panicOnFirstAttempt(ctx context.Context, _ *asynq.Task) error {
	if n, _ := asynq.GetRetryCount(ctx); n == 0 {
		panic("kaboom")
	}
	return nil
}

func TestTraceIDOnTaskLogLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:ok", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	start(t, e.options(t, e.config(), reg))

	const traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	tid, _ := trace.TraceIDFromHex(traceHex)
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	info := e.enqueue(t, ctx, "test:ok", &tasks.EnqueueOptions{Queue: "critical", Retention: time.Hour})
	if info.TraceID != traceHex {
		t.Fatalf("enqueue returned trace ID %s; want %s", info.TraceID, traceHex)
	}
	e.wait(t, info)

	var lines []map[string]any
	poll(t, "the task done line", func() bool {
		lines = e.logs.taskRecords(t, info.ID, "task done")
		return len(lines) > 0
	})
	l := lines[0]
	if l["trace_id"] != traceHex || l["task_type"] != "test:ok" || l["queue"] != "critical" ||
		l["retry"] != float64(0) || l["outcome"] != "success" || l["level"] != "INFO" {
		t.Errorf("task done line = %v; want trace_id %s, task_type test:ok, queue critical, retry 0, outcome success", l, traceHex)
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("task done line has duration_ms %v; want a number", l["duration_ms"])
	}
	// The span_id is the producer's: the worker starts no span of its own.
	if l["span_id"] != "00f067aa0ba902b7" {
		t.Errorf("span_id = %v; want the producer's 00f067aa0ba902b7", l["span_id"])
	}
}
