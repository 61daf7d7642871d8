package worker_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/tasks"
)

// TestWorkflowEventsInStream: with events always written, the live event
// log carries each step a finished step released, once, and the
// workflow's end, with the workflow's ID and trace.
func TestWorkflowEventsInStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newWFRecorder()
	cfg := e.config()
	cfg.Events.Publish = "always"
	start(t, e.options(t, cfg, rec.registry(t)))

	wf := tasks.NewWorkflow()
	wf.Step("a", "wf:step", nil)
	wf.Step("b", "wf:step", nil).After("a")
	wf.Step("c", "wf:step", nil).After("b")
	info, err := e.client.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.awaitWorkflow(t, info.ID); st.State != "succeeded" {
		t.Fatalf("workflow %+v, want succeeded", st.Summary)
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	heard := map[string]int{}
	// The events are written asynchronously: await the last one.
	poll(t, "the workflow's events in the stream", func() bool {
		clear(heard)
		msgs, err := rdb.XRange(t.Context(), events.StreamKey("default"), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			data, _ := m.Values["e"].(string)
			ev, err := events.Decode(m.ID, []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if ev.WorkflowID != info.ID || (ev.Kind != events.KindStepReleased && ev.Kind != events.KindWorkflowFinished) {
				continue
			}
			if ev.TraceID != info.TraceID {
				t.Errorf("event %+v, want trace %s", ev, info.TraceID)
			}
			heard[ev.Kind+" "+ev.Step]++
		}
		return heard[events.KindWorkflowFinished+" "] > 0
	})
	want := map[string]int{events.KindStepReleased + " b": 1, events.KindStepReleased + " c": 1, events.KindWorkflowFinished + " ": 1}
	if len(heard) != len(want) {
		t.Errorf("heard %v, want %v", heard, want)
	}
	for k, n := range want {
		if heard[k] != n {
			t.Errorf("heard %q %d times, want %d (all: %v)", k, heard[k], n, heard)
		}
	}
}

// TestWorkflowViewShowsProgress: a running step's tasks.Progress shows in
// the workflow's state; a finished step carries none.
func TestWorkflowViewShowsProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	release := make(chan struct{})
	if err := reg.Register("wf:slow", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		tasks.Progress(ctx, 40, "fetching")
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})); err != nil {
		t.Fatal(err)
	}
	start(t, e.options(t, e.config(), reg))
	wf := tasks.NewWorkflow()
	wf.Step("only", "wf:slow", nil)
	info, err := e.client.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the step's progress in the workflow's state", func() bool {
		st, err := e.client.Workflow(t.Context(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		p := st.Steps[0].Progress
		return p != nil && p.Percent == 40 && p.Message == "fetching" && p.Attempt == 1
	})
	close(release)
	st := e.awaitWorkflow(t, info.ID)
	if st.State != "succeeded" || st.Steps[0].Progress != nil {
		t.Errorf("finished workflow %+v step %+v, want succeeded without progress", st.Summary, st.Steps[0])
	}
}
