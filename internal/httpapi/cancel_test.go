package httpapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// Tokens of TestCancelReachesOnlyTheQueueNamed, one per tenant queue.
const (
	tokenAQ = "aq-tenant-0123456789abcdef"
	tokenVQ = "vq-tenant-0123456789abcdef"
)

// TestCancelReachesOnlyTheQueueNamed: task IDs are unique per queue only.
// Two tenants each run a task with the ID job-71, in queues aq and vq. The
// aq token deletes (cancels) aq/job-71: only that task is cancelled, and
// vq/job-71 runs on to completion.
func TestCancelReachesOnlyTheQueueNamed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.Worker.Queues = map[string]int{"aq": 1, "vq": 1}
		c.API.Tokens = []config.APIToken{
			{Name: "tenant-a", Token: tokenAQ, Queues: []string{"aq"}},
			{Name: "tenant-v", Token: tokenVQ, Queues: []string{"vq"}},
		}
	}})

	started := make(chan string, 4)   // queues of the attempts that started
	cancelled := make(chan string, 4) // queues of the attempts whose context ended
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // before the worker stops
	reg := tasks.NewRegistry()
	reg.MustRegister("tenant:job", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		q, _ := asynq.GetQueueName(ctx)
		started <- q
		select {
		case <-ctx.Done():
			cancelled <- q
			return ctx.Err()
		case <-release:
			return nil
		}
	}))
	w, err := worker.New(worker.Options{Config: e.cfg, Registry: reg,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		releaseAll()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("worker stopped: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("worker not ready in time")
	}

	for _, tenant := range []struct{ queue, token string }{{"aq", tokenAQ}, {"vq", tokenVQ}} {
		body := fmt.Sprintf(`{"type":"tenant:job","queue":%q,"id":"job-71","retention":"1h"}`, tenant.queue)
		created(t, e.do(t, "POST", "/v1/tasks", body, "Authorization", "Bearer "+tenant.token))
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(waitLimit):
			t.Fatal("the two job-71 tasks did not both start")
		}
	}
	e.waitState(t, "aq", "job-71", asynq.TaskStateActive)
	e.waitState(t, "vq", "job-71", asynq.TaskStateActive)

	r := e.do(t, "DELETE", "/v1/queues/aq/tasks/job-71", "", "Authorization", "Bearer "+tokenAQ)
	if want := `{"id":"job-71","type":"tenant:job","queue":"aq","outcome":"cancelled","state":"active","final_state":"archived"}` + "\n"; r.status != 200 || r.body != want {
		t.Fatalf("DELETE aq/job-71: %d %s; want 200 %s", r.status, r.body, want)
	}
	select {
	case q := <-cancelled:
		if q != "aq" {
			t.Fatalf("the cancellation of aq/job-71 ended the attempt in queue %s", q)
		}
	case <-time.After(waitLimit):
		t.Fatal("the processor of aq/job-71 never saw its context end")
	}

	// vq/job-71 is still running, untouched; released, it completes.
	if info, err := e.insp.GetTaskInfo("vq", "job-71"); err != nil || info.State != asynq.TaskStateActive {
		t.Fatalf("vq/job-71 after the cancellation of aq/job-71: %+v, %v; want still active", info, err)
	}
	releaseAll()
	e.waitState(t, "vq", "job-71", asynq.TaskStateCompleted)
	select {
	case q := <-cancelled:
		t.Errorf("an attempt in queue %s saw its context end; only aq/job-71 was cancelled", q)
	default:
	}
	// worker.cancelled archive (the default): archived as cancelled.
	if info, err := e.insp.GetTaskInfo("aq", "job-71"); err != nil || info.State != asynq.TaskStateArchived || info.LastErr != "cancelled" {
		t.Errorf("aq/job-71 after its cancellation: %+v, %v; want archived with the error cancelled", info, err)
	}
}
