package processors

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	p := &sleepProcessor{logger: slog.New(slog.DiscardHandler)}
	if err := p.ProcessTask(t.Context(), asynq.NewTask(TypeSleep, []byte(`{"ms":1}`))); err != nil {
		t.Fatal(err)
	}
	err := p.ProcessTask(t.Context(), asynq.NewTask(TypeSleep, []byte(`{"ms":"1"}`)))
	assertBadPayload(t, err, `demo:sleep: bad payload: field "ms": got a JSON string, want an integer`)
}

func TestSleepReturnsOnCancel(t *testing.T) {
	t.Parallel()
	p := &sleepProcessor{logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.ProcessTask(ctx, asynq.NewTask(TypeSleep, []byte(`{"duration":"1h"}`))) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want one wrapping context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("returned after %s", elapsed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo:sleep of 1h did not return within 10s of the cancel")
	}
}

func TestFailDirect(t *testing.T) {
	t.Parallel()
	const p = "demo:fail: bad payload: "
	ctx := t.Context() // no asynq retry count: attempt 1
	tests := []struct {
		payload, want string
		skipRetry     bool
	}{
		{`{"times":0}`, "", false},
		{`{"times":2}`, "demo:fail: planned failure 1 of 2", false},
		{`{"times":-1}`, "demo:fail: planned failure 1 of unlimited (times is -1)", false},
		{`{"skip_retry":true}`, "demo:fail: planned failure, not retried (skip_retry)", true},
		{`{}`, p + `set "times" (failures before success, -1 for always) or "skip_retry": true`, true},
		{`{"times":-2}`, p + `field "times": -2 is out of range; want -1 (always fail) or 0 and more`, true},
		{`{"times":1,"skip_retry":true}`, p + `both "times" and "skip_retry" are set; set one of them`, true},
		{`{"times":"1"}`, p + `field "times": got a JSON string, want an integer`, true},
		{`{"count":1}`, p + `unknown field "count"; the fields are "times" (failures before success, -1 for always) and "skip_retry"`, true},
	}
	for _, tt := range tests {
		err := processFail(ctx, asynq.NewTask(TypeFail, []byte(tt.payload)))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: err = %q, want %q", tt.payload, got, tt.want)
		}
		if errors.Is(err, asynq.SkipRetry) != tt.skipRetry {
			t.Errorf("%s: errors.Is(err, asynq.SkipRetry) = %v, want %v", tt.payload, !tt.skipRetry, tt.skipRetry)
		}
	}
}

// Outside a worker a task has no result writer: demo:echo, dispatched by
// the registry as a worker would, succeeds without writing (and without
// the nil-writer panic it would hit otherwise), its payload untouched.
// With a worker, the payload becomes the task's result: TestThroughAsynq's
// "echo" case checks it through a real asynq server.
func TestEchoWithoutWorker(t *testing.T) {
	t.Parallel()
	reg := tasks.NewRegistry()
	if err := RegisterBuiltins(reg, Options{}); err != nil {
		t.Fatal(err)
	}
	task := asynq.NewTask(TypeEcho, []byte("hi"))
	if task.ResultWriter() != nil {
		t.Fatal("a task built with asynq.NewTask has a result writer; this test assumes none")
	}
	if err := reg.ProcessTask(t.Context(), task); err != nil {
		t.Fatalf("demo:echo outside a worker: %v; want nil", err)
	}
	if string(task.Payload()) != "hi" {
		t.Errorf("payload after echo = %q; want it untouched", task.Payload())
	}
}

func TestRegisterBuiltins(t *testing.T) {
	t.Parallel()
	reg := tasks.NewRegistry()
	if err := RegisterBuiltins(reg, Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{TypeSleep, TypeEcho, TypeFail, TypeHTTPRequest}
	for _, typ := range want {
		if !reg.Registered(typ) {
			t.Errorf("%s is not registered", typ)
		}
	}
	err := RegisterBuiltins(reg, Options{})
	if !errors.Is(err, tasks.ErrDuplicateType) {
		t.Errorf("second RegisterBuiltins: err = %v, want one wrapping tasks.ErrDuplicateType", err)
	}
	err = RegisterBuiltins(tasks.NewRegistry(), Options{HTTPAllowHosts: []string{"http://x"}})
	const wantErr = `processors: worker.http_allow_hosts[0]: "http://x" is a URL or path, not a host; give a host or host:port such as "api.example.com" or "127.0.0.1:9000"`
	if err == nil || err.Error() != wantErr {
		t.Errorf("err = %v, want %s", err, wantErr)
	}
}
