package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
)

// A task enqueued by a plain asynq client carries no traceparent: the
// worker starts a trace for it, every line about it carries that trace_id,
// and a child task enqueued from the processor's context carries it on.
func TestTaskWithoutTraceparentGetsATrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	childTrace := make(chan string, 1)
	logger, err := logging.New(e.logs, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister("test:parent", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		logger.InfoContext(ctx, "parent working")
		_, err := e.client.Enqueue(ctx, "test:child", []byte(`{}`), &tasks.EnqueueOptions{Retention: time.Hour})
		return err
	}))
	reg.MustRegister("test:child", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		childTrace <- trace.SpanContextFromContext(ctx).TraceID().String()
		return nil
	}))
	start(t, e.options(t, e.config(), reg))

	plain := asynq.NewClient(asynq.RedisClientOpt{Addr: e.redis.Addr()})
	defer plain.Close()
	info, err := plain.Enqueue(asynq.NewTask("test:parent", []byte(`{}`)), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if tp := info.Headers[tasks.HeaderTraceparent]; tp != "" {
		t.Fatalf("the plain asynq client sent traceparent %q; the test needs none", tp)
	}
	var child string
	select {
	case child = <-childTrace:
	case <-time.After(waitFor):
		t.Fatal("the child task did not run")
	}

	var lines []map[string]any
	poll(t, "the parent's task done line", func() bool {
		lines = nil
		for _, r := range e.logs.records(t) {
			if r["task_id"] == info.ID {
				lines = append(lines, r)
			}
		}
		for _, l := range lines {
			if l["msg"] == "task done" {
				return true
			}
		}
		return false
	})
	if len(lines) < 2 {
		t.Fatalf("lines about the parent = %v; want the processor's line and the task done line", lines)
	}
	parent, _ := lines[0]["trace_id"].(string)
	if len(parent) != 32 || parent == "00000000000000000000000000000000" {
		t.Fatalf("the parent's line %v has trace_id %q; want a new trace ID", lines[0], parent)
	}
	for _, l := range lines {
		if l["trace_id"] != parent {
			t.Errorf("line %v has trace_id %v; want %s on every line about the task", l, l["trace_id"], parent)
		}
	}
	if child != parent {
		t.Errorf("the child task runs in trace %s; want the parent's %s", child, parent)
	}
}
