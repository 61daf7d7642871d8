package enqueuecli_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// startWorker runs an asynq server on addr with a handler that writes the
// payload back reversed as the result of "echo:reverse", writes a non-JSON
// result for "echo:text" and fails "always:fail". It is shut down when the
// test ends.
func startWorker(t *testing.T, addr string) {
	t.Helper()
	mux := asynq.NewServeMux()
	mux.HandleFunc("echo:reverse", func(ctx context.Context, task *asynq.Task) error {
		p := slices.Clone(task.Payload())
		for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
			p[i], p[j] = p[j], p[i]
		}
		_, err := task.ResultWriter().Write(p)
		return err
	})
	mux.HandleFunc("echo:text", func(ctx context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write([]byte("plain text"))
		return err
	})
	mux.HandleFunc("always:fail", func(ctx context.Context, task *asynq.Task) error {
		return errors.New("boom: upstream said no")
	})
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: addr}, asynq.Config{
		Concurrency:              2,
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          time.Second,
		LogLevel:                 asynq.FatalLevel,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
}

func TestWait(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	startWorker(t, addr)

	// A JSON result is printed as JSON; --wait sets a retention of 1h.
	r := runOK(t, "", "--redis-addr", addr, "--wait", "echo:reverse", `]3,2,1[`)
	tl := one(t, r.stdout)
	if tl.State != "completed" || string(tl.Result) != `[1,2,3]` || tl.Error != "" || tl.CompletedAt == "" || tl.Retried == nil || *tl.Retried != 0 {
		t.Errorf("--wait: %+v (result %s)", tl, tl.Result)
	}
	if info := taskInfo(t, insp, "default", tl.ID); info.Retention != time.Hour {
		t.Errorf("retention %s, want 1h set by --wait", info.Retention)
	}

	// A result that is not JSON is printed as a string; an explicit
	// retention is kept.
	r = runOK(t, "", "--redis-addr", addr, "--wait=20s", "--retention", "5m", "echo:text")
	tl = one(t, r.stdout)
	// Not JSON: base64 in result_base64, as the HTTP API shows it.
	if tl.State != "completed" || tl.Result != nil || tl.ResultBase64 != "cGxhaW4gdGV4dA==" {
		t.Errorf("--wait=20s: %+v (result %s)", tl, tl.Result)
	}
	if info := taskInfo(t, insp, "default", tl.ID); info.Retention != 5*time.Minute {
		t.Errorf("retention %s, want 5m", info.Retention)
	}

	// A failing task without retries is archived: its error, exit 1.
	r = run(t, "", "--redis-addr", addr, "--wait", "--max-retry", "0", "always:fail", "{}")
	tl = one(t, r.stdout)
	want := "enqueue: task " + tl.ID + " was archived after 0 retries: boom: upstream said no\n"
	if r.code != 1 || r.stderr != want || tl.State != "archived" || tl.Error != "boom: upstream said no" || tl.Result != nil {
		t.Errorf("failing task: exit %d, stderr %q, line %+v; want exit 1, stderr %q", r.code, r.stderr, tl, want)
	}
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	// No worker: the task stays pending.
	r := run(t, "", "--redis-addr", addr, "--wait=300ms", "nobody:home")
	tl := one(t, r.stdout)
	want := "enqueue: task " + tl.ID + " did not finish within 300ms (state pending)\n"
	if r.code != 1 || r.stderr != want || tl.State != "pending" {
		t.Errorf("exit %d, stderr %q, line %+v; want exit 1, stderr %q", r.code, r.stderr, tl, want)
	}
}
