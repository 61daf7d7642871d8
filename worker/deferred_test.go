package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// An error the worker's IsFailure does not count (a disabled plugin's, for
// one) is logged as "task deferred" at info level and counted as deferred,
// not as a failure, and the task comes back without a retry charged.
func TestNonFailureIsDeferredNotFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	errNotNow := errors.New("not now")
	var runs counter
	reg := tasks.NewRegistry()
	if err := reg.Register("later", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		if runs.add("later") == 1 {
			return errNotNow
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	opts := e.options(t, e.config(), reg)
	opts.IsFailure = func(err error) bool { return !errors.Is(err, errNotNow) }
	w := start(t, opts)
	info := e.enqueue(t, ctx, "later", &tasks.EnqueueOptions{MaxRetry: maxRetry(3), Retention: time.Hour})
	got := e.wait(t, info)
	if got.State != asynq.TaskStateCompleted || got.Retried != 0 {
		t.Fatalf("task: state %s, retried %d; want completed with no retry charged", got.State, got.Retried)
	}
	lines := e.logs.taskRecords(t, info.ID, "task deferred")
	if len(lines) != 1 || lines[0]["level"] != "INFO" || lines[0]["outcome"] != "deferred" || lines[0]["error"] != "not now" {
		t.Fatalf("task deferred lines = %v; want one INFO line with outcome deferred and error \"not now\"", lines)
	}
	if failed := e.logs.taskRecords(t, info.ID, "task failed"); len(failed) != 0 {
		t.Fatalf("task failed lines = %v; want none", failed)
	}
	_, body := get(t, w.Worker, "/metrics")
	if line := metricLine(body, `tuskq_tasks_deferred_total{queue="default",reason="not_failure",task_type="later"}`); line != `tuskq_tasks_deferred_total{queue="default",reason="not_failure",task_type="later"} 1` {
		t.Fatalf("deferred metric = %q; want 1", line)
	}
	if line := metricLine(body, `tuskq_tasks_failed_total{queue="default",task_type="later"}`); line != "" {
		t.Fatalf("failed metric = %q; want none", line)
	}
}
