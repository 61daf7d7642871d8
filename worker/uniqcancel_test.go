package worker_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/tasks"
)

// dupe enqueues a task equal to the one of key "order-1" (another type
// and payload) and reports whether it was refused as a duplicate.
func dupe(t *testing.T, e *env) bool {
	t.Helper()
	info, err := e.client.Enqueue(t.Context(), "other:type", []byte(`{"n":2}`), &tasks.EnqueueOptions{UniqueKey: "order-1", Retention: time.Hour})
	switch {
	case errors.Is(err, asynq.ErrDuplicateTask):
		if want := `tasks: enqueue "other:type": unique key "order-1" of queue "default" is held by an equal task: task already exists`; err.Error() != want {
			t.Fatalf("duplicate error %q; want %q", err, want)
		}
		return true
	case err != nil:
		t.Fatal(err)
	}
	return info == nil
}

// An equal task is refused while the first is pending, active and waiting
// for a retry, and accepted the moment it completes.
func TestUniqueUntilEndLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	first := e.enqueue(t, ctx, "u:step", &tasks.EnqueueOptions{UniqueKey: "order-1", Retention: time.Hour})
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the first is pending")
	}
	gate := make(chan struct{})
	var attempts atomic.Int32
	reg := tasks.NewRegistry()
	reg.MustRegister("u:step", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		if attempts.Add(1) == 1 {
			<-gate
			return errors.New("first attempt fails")
		}
		return nil
	}))
	reg.MustRegister("other:type", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	opts := e.options(t, e.config(), reg)
	opts.RetryDelay = func(int, error, *asynq.Task) time.Duration { return 2 * time.Second }
	start(t, opts)
	insp := e.client.Inspector()
	state := func() asynq.TaskState {
		info, err := insp.GetTaskInfo("default", first.ID)
		if err != nil {
			t.Fatal(err)
		}
		return info.State
	}
	poll(t, "the first task active", func() bool { return state() == asynq.TaskStateActive })
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the first is active")
	}
	close(gate)
	poll(t, "the first task waiting for a retry", func() bool { return state() == asynq.TaskStateRetry })
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the first waits for a retry")
	}
	poll(t, "the first task completed", func() bool { return state() == asynq.TaskStateCompleted })
	if dupe(t, e) {
		t.Fatal("equal task refused after the first completed")
	}
}

// A task whose worker died (left active with an expired lease, as a
// SIGKILLed worker leaves it) keeps its lock until it is recovered and
// completes.
func TestUniqueUntilEndSurvivesDeadWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	info := e.enqueue(t, ctx, "u:work", &tasks.EnqueueOptions{UniqueKey: "order-1", Retention: time.Hour})
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	orphan(t, rdb, "default", info.ID, 5*time.Second)
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the first is orphaned")
	}
	release := make(chan struct{})
	var runs atomic.Int32
	reg := tasks.NewRegistry()
	reg.MustRegister("u:work", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		runs.Add(1)
		<-release
		return nil
	}))
	reg.MustRegister("other:type", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	cfg := e.config()
	cfg.Worker.OrphanCheckInterval = 50 * time.Millisecond
	cfg.Worker.OrphanGrace = time.Second
	start(t, e.options(t, cfg, reg))
	poll(t, "the orphan recovered and running", func() bool { return runs.Load() == 1 })
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the recovered task runs")
	}
	close(release)
	if got := e.wait(t, info); got.State != asynq.TaskStateCompleted {
		t.Fatalf("state %s", got.State)
	}
	if dupe(t, e) {
		t.Fatal("equal task refused after the recovered task completed")
	}
}

// Deleting or archiving the holder from the Inspector (asynqmon) frees
// the key; 50 equal enqueues at once leave exactly one task.
func TestUniqueUntilEndInspectorAndConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	insp := e.client.Inspector()
	info := e.enqueue(t, ctx, "u:later", &tasks.EnqueueOptions{UniqueKey: "order-1", ProcessIn: time.Hour})
	if !dupe(t, e) {
		t.Fatal("equal task accepted while the first is scheduled")
	}
	if err := insp.DeleteTask("default", info.ID); err != nil {
		t.Fatal(err)
	}
	if dupe(t, e) {
		t.Fatal("equal task refused after the first was deleted from the Inspector")
	}
	pending, err := insp.ListPendingTasks("default")
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %d, %v", len(pending), err)
	}
	if err := insp.ArchiveTask("default", pending[0].ID); err != nil {
		t.Fatal(err)
	}
	if dupe(t, e) {
		t.Fatal("equal task refused after the holder was archived from the Inspector")
	}

	var wg sync.WaitGroup
	var stored, refused atomic.Int32
	for range 50 {
		wg.Go(func() {
			_, err := e.client.Enqueue(ctx, "u:many", []byte(`{}`), &tasks.EnqueueOptions{UniqueKey: "many", Queue: "low"})
			switch {
			case err == nil:
				stored.Add(1)
			case errors.Is(err, asynq.ErrDuplicateTask):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	low, err := insp.ListPendingTasks("low")
	if stored.Load() != 1 || refused.Load() != 49 || err != nil || len(low) != 1 {
		t.Fatalf("50 equal enqueues: %d stored, %d refused, %d pending (%v); want 1, 49, 1", stored.Load(), refused.Load(), len(low), err)
	}
}

// A running task cancelled from the Inspector (asynqmon's cancel button)
// or by queue and ID (the HTTP API's DELETE, enqueue cancel) sees its
// context cancelled and ends as worker.cancelled says, never retried.
func TestCancelSticks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode string
		cancel     func(t *testing.T, e *env, rdb redis.UniversalClient, id string)
	}{
		{"inspector archive", config.CancelledArchive, func(t *testing.T, e *env, _ redis.UniversalClient, id string) {
			if err := e.client.Inspector().CancelProcessing(id); err != nil {
				t.Fatal(err)
			}
		}},
		{"queue and id archive", config.CancelledArchive, func(t *testing.T, _ *env, rdb redis.UniversalClient, id string) {
			if err := taskcancel.Publish(t.Context(), rdb, "default", id); err != nil {
				t.Fatal(err)
			}
		}},
		{"cli archive", config.CancelledArchive, func(t *testing.T, e *env, _ redis.UniversalClient, id string) {
			cliCancel(t, e, id, "archive", "archived")
		}},
		{"cli delete", config.CancelledDelete, func(t *testing.T, e *env, _ redis.UniversalClient, id string) {
			cliCancel(t, e, id, "delete", "deleted")
		}},
		{"inspector delete", config.CancelledDelete, func(t *testing.T, e *env, _ redis.UniversalClient, id string) {
			if err := e.client.Inspector().CancelProcessing(id); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
			defer rdb.Close()
			var runs atomic.Int32
			started := make(chan struct{}, 4)
			cause := make(chan error, 4)
			reg := tasks.NewRegistry()
			reg.MustRegister("c:slow", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
				runs.Add(1)
				started <- struct{}{}
				<-ctx.Done()
				cause <- context.Cause(ctx)
				return ctx.Err()
			}))
			cfg := e.config()
			cfg.Worker.Cancelled = tc.mode
			w := start(t, e.options(t, cfg, reg))
			info := e.enqueue(t, t.Context(), "c:slow", &tasks.EnqueueOptions{MaxRetry: maxRetry(5), Retention: time.Hour, UniqueKey: "c1"})
			select {
			case <-started:
			case <-time.After(waitFor):
				t.Fatal("task did not start")
			}
			tc.cancel(t, e, rdb, info.ID)
			select {
			case err := <-cause:
				if !errors.Is(err, taskcancel.ErrCancelled) {
					t.Fatalf("processor's context cause %v; want taskcancel.ErrCancelled", err)
				}
			case <-time.After(waitFor):
				t.Fatal("the processor's context was not cancelled")
			}
			insp := e.client.Inspector()
			if tc.mode == config.CancelledArchive {
				poll(t, "the task archived", func() bool {
					got, err := insp.GetTaskInfo("default", info.ID)
					return err == nil && got.State == asynq.TaskStateArchived
				})
				got, _ := insp.GetTaskInfo("default", info.ID)
				if got.LastErr != "cancelled" {
					t.Fatalf("archived with error %q; want cancelled", got.LastErr)
				}
			} else {
				poll(t, "the task deleted", func() bool {
					_, err := insp.GetTaskInfo("default", info.ID)
					return errors.Is(err, asynq.ErrTaskNotFound)
				})
			}
			// Its lock that lasts until the end is released.
			if _, err := e.client.Enqueue(t.Context(), "c:other", nil, &tasks.EnqueueOptions{UniqueKey: "c1", Queue: "low"}); err != nil {
				t.Fatalf("equal task after the cancellation: %v", err)
			}
			poll(t, "the task line", func() bool { return len(e.logs.taskRecords(t, info.ID, "task cancelled")) == 1 })
			if r := e.logs.taskRecords(t, info.ID, "task cancelled")[0]; r["outcome"] != "cancelled" || r["level"] != "INFO" {
				t.Fatalf("task line %v", r)
			}
			_, body := get(t, w.Worker, "/metrics")
			if line := metricLine(body, `tuskq_tasks_outcomes_total{outcome="cancelled",queue="default",task_type="c:slow"}`); line != `tuskq_tasks_outcomes_total{outcome="cancelled",queue="default",task_type="c:slow"} 1` {
				t.Fatalf("metric line %q", line)
			}
			if n := runs.Load(); n != 1 {
				t.Fatalf("%d runs; want 1 (never retried)", n)
			}
			for _, q := range []string{"pending", "retry"} {
				if n := rdb.Exists(t.Context(), "asynq:{default}:"+q).Val(); n != 0 {
					t.Fatalf("queue default has %s tasks; want none", q)
				}
			}
		})
	}
}

// cliCancel runs "enqueue cancel default ID" with worker.cancelled mode
// and checks its line.
func cliCancel(t *testing.T, e *env, id, mode, final string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := enqueuecli.Run(t.Context(), []string{"cancel", "--redis-addr", e.redis.Addr(), "--set", "worker.cancelled=" + mode, "default", id},
		enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: []string{}})
	want := `{"id":"` + id + `","type":"c:slow","queue":"default","outcome":"cancelled","final_state":"` + final + `"}` + "\n"
	if code != 0 || out.String() != want {
		t.Errorf("enqueue cancel: exit %d, stdout %q, stderr %q; want 0, %q", code, out.String(), errb.String(), want)
	}
	// Not running any more: refused, exit 1, naming the state.
	code = enqueuecli.Run(t.Context(), []string{"cancel", "--redis-addr", e.redis.Addr(), "default", id},
		enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: []string{}})
	if code != 1 {
		t.Errorf("second enqueue cancel: exit %d; want 1", code)
	}
}

// A shutdown during a task still hands it back to run again: it is no
// cancellation.
func TestShutdownStillHandsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // after the worker stopped
	reg := tasks.NewRegistry()
	reg.MustRegister("s:long", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		<-release // ignores the shutdown: the worker hands the task back
		return nil
	}))
	cfg := e.config()
	cfg.Worker.ShutdownTimeout = 200 * time.Millisecond
	w := start(t, e.options(t, cfg, reg))
	info := e.enqueue(t, t.Context(), "s:long", &tasks.EnqueueOptions{UniqueKey: "order-1"})
	<-started
	if _, err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.Inspector().GetTaskInfo("default", info.ID)
	if err != nil || got.State != asynq.TaskStatePending || got.LastErr != "" {
		t.Fatalf("after shutdown: %+v, %v; want pending without an error", got, err)
	}
	// Handed back, it still holds its lock.
	if !dupe(t, e) {
		t.Fatal("equal task accepted after the first was handed back")
	}
}
