package enqueuecli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// startTuskqWorker runs a tuskq worker (which records workflow steps) on
// addr: step:ok writes "<step>:<how many results it received>" as its
// result, step:fail fails for good, step:slow runs until cancelled.
func startTuskqWorker(t *testing.T, addr string) chan string {
	t.Helper()
	started := make(chan string, 16)
	reg := tasks.NewRegistry()
	reg.MustRegister("step:ok", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		var in map[string]*string
		_ = json.Unmarshal([]byte(task.Headers()[tasks.HeaderWorkflowResults]), &in)
		_, err := task.ResultWriter().Write(fmt.Appendf(nil, "%s:%d", task.Headers()[tasks.HeaderWorkflowStep], len(in)))
		return err
	}))
	reg.MustRegister("step:fail", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		return fmt.Errorf("no: %w", asynq.SkipRetry)
	}))
	reg.MustRegister("step:slow", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		started <- task.Headers()[tasks.HeaderWorkflowStep]
		<-ctx.Done()
		return ctx.Err()
	}))
	cfg := config.Default()
	cfg.Redis.Addr = addr
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 8
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.DelayedTaskCheckInterval = 20 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 2 * time.Second
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
	return started
}

// cliWorkflow is the part of a printed workflow the tests read.
type cliWorkflow struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Succeeded int    `json:"succeeded"`
	Steps     []struct {
		Name   string  `json:"name"`
		State  string  `json:"state"`
		Result *string `json:"result"`
	} `json:"steps"`
}

func decodeWorkflow(t *testing.T, stdout string) cliWorkflow {
	t.Helper()
	var w cliWorkflow
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &w); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	return w
}

func TestWorkflowCLI(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	started := startTuskqWorker(t, addr)

	// A diamond: results flow, --wait prints a line per state change.
	diamond := `{"steps":[{"name":"a","task":{"type":"step:ok"}},{"name":"b","after":["a"],"task":{"type":"step:ok"}},
		{"name":"c","after":["a"],"task":{"type":"step:ok"}},{"name":"d","after":["b","c"],"task":{"type":"step:ok"}}]}`
	r := runOK(t, diamond, "--redis-addr", addr, "--workflow", "-", "--wait=60s")
	w := decodeWorkflow(t, r.stdout)
	if w.State != "succeeded" || w.Succeeded != 4 || w.Steps[3].Result == nil || *w.Steps[3].Result != "d:2" {
		t.Errorf("diamond: %s", r.stdout)
	}
	for _, want := range []string{"step a succeeded\n", "step d succeeded\n", "workflow " + w.ID + " succeeded\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// A chord of 1,000 steps and one callback.
	var b strings.Builder
	b.WriteString(`{"steps":[`)
	after := make([]string, 1000)
	for i := range after {
		after[i] = fmt.Sprintf(`"p%d"`, i)
		fmt.Fprintf(&b, `{"name":"p%d","task":{"type":"step:ok"}},`, i)
	}
	fmt.Fprintf(&b, `{"name":"sum","after":[%s],"task":{"type":"step:ok"}}],"on_complete":{"type":"step:ok"}}`, strings.Join(after, ","))
	r = runOK(t, b.String(), "--redis-addr", addr, "--workflow", "-", "--wait=60s")
	if w := decodeWorkflow(t, r.stdout); w.State != "succeeded" || w.Succeeded != 1001 || *w.Steps[1000].Result != "sum:1000" {
		t.Errorf("chord: state %s, %d succeeded", w.State, w.Succeeded)
	}

	// A chain whose middle step fails, under each policy: exit 1.
	for policy, want := range map[string]string{"fail_fast": "cancelled", "continue": "skipped"} {
		chain := `{"policy":"` + policy + `","steps":[{"name":"a","task":{"type":"step:ok"}},
			{"name":"b","after":["a"],"task":{"type":"step:fail"}},{"name":"c","after":["b"],"task":{"type":"step:ok"}}]}`
		r = run(t, chain, "--redis-addr", addr, "--workflow", "-", "--wait=60s")
		w := decodeWorkflow(t, r.stdout)
		if r.code != 1 || w.State != "failed" || w.Steps[1].State != "failed" || w.Steps[2].State != want {
			t.Errorf("%s: exit %d, %s", policy, r.code, r.stdout)
		}
	}

	// Cancellation of a running workflow.
	r = runOK(t, `{"steps":[{"name":"slow","task":{"type":"step:slow"}},{"name":"next","after":["slow"],"task":{"type":"step:ok"}}]}`,
		"--redis-addr", addr, "--workflow", "-")
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || created.ID == "" {
		t.Fatalf("created: %q", r.stdout)
	}
	<-started
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	testutil.Poll(t, 30*time.Second, "the worker's cancellation listener", func() bool {
		n, err := rdb.PubSubNumSub(t.Context(), taskcancel.Channel).Result()
		return err == nil && n[taskcancel.Channel] > 0
	})
	r = runOK(t, "", "workflow", "cancel", "--redis-addr", addr, created.ID)
	if w := decodeWorkflow(t, r.stdout); w.State != "cancelled" || w.Steps[0].State != "cancelled" || w.Steps[1].State != "cancelled" {
		t.Errorf("cancel: %s", r.stdout)
	}
	if r = run(t, "", "workflow", "cancel", "--redis-addr", addr, created.ID); r.code != 1 || !strings.Contains(r.stderr, "ended") {
		t.Errorf("second cancel: exit %d %s", r.code, r.stderr)
	}

	// Bad input names the field and exits 2.
	r = run(t, `{"steps":[{"name":"a","after":["zz"],"task":{"type":"step:ok"}}]}`, "--redis-addr", addr, "--workflow", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "steps[0].after[0]") {
		t.Errorf("bad workflow: exit %d %s", r.code, r.stderr)
	}
}
