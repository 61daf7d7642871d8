package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/redistest"
	tutil "github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
)

// logBuffer collects JSON log lines written concurrently.
type logBuffer struct{ tutil.LogBuffer }

// records returns the decoded lines whose msg is msg.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	return b.Records(t, msg)
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tutil.Poll(t, 20*time.Second, what, cond)
}

func TestMiddlewareLogsTraceMetricsAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	redisOpt := asynq.RedisClientOpt{Addr: srv.Addr()}

	var logs logBuffer
	logger, err := logging.New(&logs, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := tasks.NewRegistry()
	reg.MustRegister("ok:run", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		logger.InfoContext(ctx, "inside processor")
		return nil
	}))
	reg.MustRegister("boom:run", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		panic("kaboom")
	}))
	reg.MustRegister("skip:run", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}))
	promReg := prometheus.NewRegistry()
	metrics, err := tasks.NewMetrics(promReg)
	if err != nil {
		t.Fatal(err)
	}
	handler := tasks.Chain(reg,
		tasks.Context(),
		tasks.Log(logger, tasks.LogOptions{}),
		metrics.Middleware(reg.Registered),
		tasks.Recover(logger),
	)
	server := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency:       4,
		TaskCheckInterval: 10 * time.Millisecond,
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:          asynq.ErrorLevel,
	})
	if err := server.Start(handler); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)

	c, err := tasks.NewClient(redisOpt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	okInfo, err := c.Enqueue(sctx, "ok:run", []byte(`{"secret":"hunter2"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	boomInfo, err := c.Enqueue(ctx, "boom:run", nil, &tasks.EnqueueOptions{MaxRetry: intp(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "skip:run", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "ghost:run", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four finished attempts", func() bool {
		return len(logs.records(t, "task done"))+len(logs.records(t, "task failed"))+len(logs.records(t, "task ended without retry")) == 4
	})

	done := logs.records(t, "task done")
	if len(done) != 1 {
		t.Fatalf("task done lines: %v", done)
	}
	d := done[0]
	for k, want := range map[string]any{
		"level": "INFO", "trace_id": tid.String(), "span_id": sid.String(), "task_id": okInfo.ID,
		"task_type": "ok:run", "queue": "default", "retry": float64(0), "outcome": "success",
		"payload_bytes": float64(len(`{"secret":"hunter2"}`)),
	} {
		if d[k] != want {
			t.Errorf("task done %s = %v; want %v", k, d[k], want)
		}
	}
	if _, ok := d["duration_ms"].(float64); !ok {
		t.Errorf("task done has no numeric duration_ms: %v", d)
	}
	if strings.Contains(fmt.Sprint(d), "hunter2") {
		t.Errorf("payload logged by default: %v", d)
	}
	inside := logs.records(t, "inside processor")
	if len(inside) != 1 || inside[0]["trace_id"] != tid.String() || inside[0]["task_id"] != okInfo.ID {
		t.Errorf("processor's own line lacks task fields: %v", inside)
	}

	failed := map[string]map[string]any{}
	for _, r := range logs.records(t, "task failed") {
		failed[r["task_type"].(string)] = r
	}
	if r := failed["boom:run"]; r["level"] != "WARN" || r["outcome"] != "retry" ||
		r["error"] != "tasks: processor panicked: kaboom" || r["task_id"] != boomInfo.ID {
		t.Errorf("panic line = %v", r)
	}
	// SkipRetry is the processor's choice, not a failure: its own line.
	if _, ok := failed["skip:run"]; ok {
		t.Errorf("SkipRetry logged as task failed: %v", failed["skip:run"])
	}
	skipped := logs.records(t, "task ended without retry")
	if len(skipped) != 1 || skipped[0]["level"] != "WARN" || skipped[0]["outcome"] != "skipped" ||
		skipped[0]["error"] != "bad payload: skip retry for the task" || skipped[0]["task_type"] != "skip:run" {
		t.Errorf("skip lines = %v", skipped)
	}
	if r := failed["ghost:run"]; r["outcome"] != "retry" ||
		!strings.HasPrefix(fmt.Sprint(r["error"]), `tasks: no processor registered for task type "ghost:run"`) {
		t.Errorf("unknown type line = %v", r)
	}
	panics := logs.records(t, "task processor panicked")
	if len(panics) != 1 || panics[0]["panic"] != "kaboom" ||
		!strings.Contains(fmt.Sprint(panics[0]["stack"]), "runtime/debug.Stack") {
		t.Errorf("panic record = %v", panics)
	}

	// The panicking task is retried, not lost.
	waitFor(t, "panicking task in retry", func() bool {
		info, err := c.Inspector().GetTaskInfo("default", boomInfo.ID)
		return err == nil && info.State == asynq.TaskStateRetry && info.Retried == 1 &&
			info.LastErr == "tasks: processor panicked: kaboom"
	})

	want := `
# HELP tuskq_tasks_retried_total Failed task attempts that will be retried.
# TYPE tuskq_tasks_retried_total counter
tuskq_tasks_retried_total{queue="default",task_type="(unregistered)"} 1
tuskq_tasks_retried_total{queue="default",task_type="boom:run"} 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(want), "tuskq_tasks_retried_total"); err != nil {
		t.Error(err)
	}
	want = `
# HELP tuskq_tasks_failed_total Task attempts that failed: returned an error other than a cancellation or asynq.SkipRetry.
# TYPE tuskq_tasks_failed_total counter
tuskq_tasks_failed_total{queue="default",task_type="(unregistered)"} 1
tuskq_tasks_failed_total{queue="default",task_type="boom:run"} 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(want), "tuskq_tasks_failed_total"); err != nil {
		t.Error(err)
	}
	want = `
# HELP tuskq_tasks_outcomes_total Task attempts by outcome: success, retry, archived, skipped, cancelled, revoked, requeued or deferred.
# TYPE tuskq_tasks_outcomes_total counter
tuskq_tasks_outcomes_total{outcome="retry",queue="default",task_type="(unregistered)"} 1
tuskq_tasks_outcomes_total{outcome="retry",queue="default",task_type="boom:run"} 1
tuskq_tasks_outcomes_total{outcome="skipped",queue="default",task_type="skip:run"} 1
tuskq_tasks_outcomes_total{outcome="success",queue="default",task_type="ok:run"} 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(want), "tuskq_tasks_outcomes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(promReg, "tuskq_tasks_processed_total"); n != 4 {
		t.Errorf("processed series = %d; want 4", n)
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	if got := tasks.Outcome(t.Context(), nil); got != tasks.OutcomeSuccess {
		t.Fatalf("nil error: %s", got)
	}
	if got := tasks.Outcome(t.Context(), fmt.Errorf("x: %w", asynq.RevokeTask)); got != tasks.OutcomeRevoked {
		t.Fatalf("revoke: %s", got)
	}
	if got := tasks.Outcome(t.Context(), fmt.Errorf("x: %w", asynq.SkipRetry)); got != tasks.OutcomeSkipped {
		t.Fatalf("skip retry: %s", got)
	}
	if got := tasks.Outcome(t.Context(), fmt.Errorf("x: %w", tasks.ErrCancelled)); got != tasks.OutcomeCancelled {
		t.Fatalf("cancelled: %s", got)
	}
	// Outside a worker there is no retry budget in ctx: a failure is final.
	if got := tasks.Outcome(t.Context(), errors.New("x")); got != tasks.OutcomeArchived {
		t.Fatalf("plain error outside a worker: %s", got)
	}
}
