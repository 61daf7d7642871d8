package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// wfRecorder is a processor for workflow tests: it writes "<step>(<the
// results it received>)" as its result, fails the steps named in fail for
// good, blocks the steps named in block until their context ends, and
// counts runs per step and callbacks.
type wfRecorder struct {
	mu       sync.Mutex
	runs     map[string]int
	results  map[string]map[string]*string
	counts   []map[string]any
	fail     map[string]bool
	block    map[string]bool
	started  chan string
	callback map[string]int
}

func newWFRecorder() *wfRecorder {
	return &wfRecorder{runs: map[string]int{}, results: map[string]map[string]*string{}, fail: map[string]bool{},
		block: map[string]bool{}, started: make(chan string, 4096), callback: map[string]int{}}
}

func (r *wfRecorder) registry(t *testing.T) *tasks.Registry {
	t.Helper()
	reg := tasks.NewRegistry()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.Register("wf:step", tasks.ProcessorFunc(r.step)))
	must(reg.Register("wf:done", tasks.ProcessorFunc(func(_ context.Context, t *asynq.Task) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.callback[string(t.Payload())]++
		if c := t.Headers()[tasks.HeaderWorkflowCounts]; c != "" {
			var m map[string]any
			if err := json.Unmarshal([]byte(c), &m); err != nil {
				return fmt.Errorf("counts header %q: %w", c, err)
			}
			r.counts = append(r.counts, m)
		}
		return nil
	})))
	return reg
}

func (r *wfRecorder) step(ctx context.Context, t *asynq.Task) error {
	name := t.Headers()[tasks.HeaderWorkflowStep]
	var in map[string]*string
	if h := t.Headers()[tasks.HeaderWorkflowResults]; h != "" {
		if err := json.Unmarshal([]byte(h), &in); err != nil {
			return fmt.Errorf("results header %q: %w", h, err)
		}
	}
	r.mu.Lock()
	r.runs[name]++
	r.results[name] = in
	fail, block := r.fail[name], r.block[name]
	r.mu.Unlock()
	select {
	case r.started <- name:
	default:
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return fmt.Errorf("step %s fails: %w", name, asynq.SkipRetry)
	}
	_, err := t.ResultWriter().Write([]byte(name + "!"))
	return err
}

func (r *wfRecorder) runsOf(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[name]
}

func (r *wfRecorder) callbacks(payload string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.callback[payload]
}

// awaitWorkflow polls until workflow id has ended and returns its state.
func (e *env) awaitWorkflow(t *testing.T, id string) *tasks.WorkflowState {
	t.Helper()
	var st *tasks.WorkflowState
	// A thousand steps under -race on a loaded machine take a while.
	testutil.Poll(t, 3*time.Minute, "workflow "+id+" ends", func() bool {
		s, err := e.client.Workflow(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		st = s
		return s.Finished != nil
	})
	return st
}

func stepStates(st *tasks.WorkflowState) map[string]string {
	m := map[string]string{}
	for _, s := range st.Steps {
		m[s.Name] = s.State
	}
	return m
}

func TestWorkflowDiamondResultsFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newWFRecorder()
	opts := e.options(t, e.config(), rec.registry(t))
	events := make(chan tasks.WorkflowEvent, 16)
	opts.WorkflowObserver = func(ev tasks.WorkflowEvent) { events <- ev }
	start(t, opts)

	wf := tasks.NewWorkflow()
	wf.Step("a", "wf:step", nil)
	wf.Step("b", "wf:step", nil).After("a")
	wf.Step("c", "wf:step", nil).After("a")
	wf.Step("d", "wf:step", nil).After("b", "c")
	wf.OnSuccess("wf:done", []byte("success"))
	wf.OnComplete("wf:done", []byte("complete"))
	info, err := e.client.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	st := e.awaitWorkflow(t, info.ID)
	if st.State != "succeeded" || st.Succeeded != 4 || st.Released != 4 || st.Callbacks != 2 {
		t.Fatalf("workflow %+v, want succeeded with 4 steps released once each and 2 callbacks", st.Summary)
	}
	// The observer heard b, c and d released (a was released by the
	// producer) and the end, each once, with the workflow's trace.
	heard := map[string]int{}
	for range 4 {
		select {
		case ev := <-events:
			if ev.WorkflowID != info.ID || ev.TraceID != info.TraceID {
				t.Errorf("event %+v, want workflow %s trace %s", ev, info.ID, info.TraceID)
			}
			heard[ev.Kind+" "+ev.Step]++
			if ev.Kind == tasks.WorkflowStepReleased && ev.TaskID != "wf:"+info.ID+":"+ev.Step {
				t.Errorf("event %+v has task ID %s", ev, ev.TaskID)
			}
		case <-time.After(waitFor):
			t.Fatalf("events heard so far: %v", heard)
		}
	}
	for _, k := range []string{tasks.WorkflowStepReleased + " b", tasks.WorkflowStepReleased + " c", tasks.WorkflowStepReleased + " d", tasks.WorkflowFinished + " "} {
		if heard[k] != 1 {
			t.Errorf("heard %q %d times (all: %v)", k, heard[k], heard)
		}
	}
	for _, s := range st.Steps {
		if s.State != "succeeded" || string(s.Result) != s.Name+"!" {
			t.Errorf("step %s: state %s result %q", s.Name, s.State, s.Result)
		}
		if s.TaskID != "wf:"+info.ID+":"+s.Name {
			t.Errorf("step %s has task ID %q", s.Name, s.TaskID)
		}
	}
	rec.mu.Lock()
	in := rec.results["d"]
	rec.mu.Unlock()
	if len(in) != 2 || in["b"] == nil || *in["b"] != "b!" || in["c"] == nil || *in["c"] != "c!" {
		t.Errorf("d received %v, want b and c's results", in)
	}
	poll(t, "both callbacks", func() bool { return rec.callbacks("success") == 1 && rec.callbacks("complete") == 1 })
	for _, n := range []string{"a", "b", "c", "d"} {
		if rec.runsOf(n) != 1 {
			t.Errorf("step %s ran %d times", n, rec.runsOf(n))
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.counts) != 1 || rec.counts[0]["succeeded"] != 4.0 || rec.counts[0]["state"] != "succeeded" {
		t.Errorf("on_complete counts %v", rec.counts)
	}
}

func TestWorkflowChord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newWFRecorder()
	cfg := e.config()
	cfg.Worker.Concurrency = 20
	start(t, e.options(t, cfg, rec.registry(t)))

	const n = 1000
	wf := tasks.NewWorkflow()
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("p%d", i)
		wf.Step(parts[i], "wf:step", nil)
	}
	wf.Step("sum", "wf:step", nil).After(parts...)
	wf.OnComplete("wf:done", []byte("chord"))
	info, err := e.client.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	st := e.awaitWorkflow(t, info.ID)
	if st.State != "succeeded" || st.Succeeded != n+1 {
		t.Fatalf("workflow %+v", st.Summary)
	}
	poll(t, "the callback", func() bool { return rec.callbacks("chord") == 1 })
	rec.mu.Lock()
	got := len(rec.results["sum"])
	rec.mu.Unlock()
	if got != n {
		t.Errorf("sum received %d results, want %d", got, n)
	}
}

func TestWorkflowChainFailurePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy tasks.WorkflowPolicy
		want   map[string]string
	}{
		// a → b (fails) → c, and x alone, held until b failed.
		{tasks.FailFast, map[string]string{"a": "succeeded", "b": "failed", "c": "cancelled", "x": "cancelled"}},
		{tasks.ContinueOnFailure, map[string]string{"a": "succeeded", "b": "failed", "c": "skipped", "x": "succeeded"}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := newWFRecorder()
			rec.fail["b"] = true
			start(t, e.options(t, e.config(), rec.registry(t)))
			wf := tasks.NewWorkflow().Policy(tc.policy)
			wf.Step("a", "wf:step", nil)
			wf.Then("b", "wf:step", nil)
			wf.Then("c", "wf:step", nil)
			// x waits for a step that waits long enough for b to fail.
			wf.Step("x", "wf:step", nil).After("a").Options(tasks.EnqueueOptions{ProcessIn: 3e9})
			wf.OnSuccess("wf:done", []byte("success"))
			wf.OnComplete("wf:done", []byte("complete"))
			info, err := e.client.EnqueueWorkflow(t.Context(), wf)
			if err != nil {
				t.Fatal(err)
			}
			st := e.awaitWorkflow(t, info.ID)
			if st.State != "failed" {
				t.Errorf("workflow state %s, want failed", st.State)
			}
			got := stepStates(st)
			for k, v := range tc.want {
				if k == "x" && tc.policy == tasks.FailFast {
					continue // released before b failed: its fate depends on timing
				}
				if got[k] != v {
					t.Errorf("step %s: %s, want %s (all: %v)", k, got[k], v, got)
				}
			}
			poll(t, "on_complete", func() bool { return rec.callbacks("complete") == 1 })
			if rec.callbacks("success") != 0 || rec.runsOf("c") != 0 {
				t.Errorf("on_success ran %d times, c ran %d times", rec.callbacks("success"), rec.runsOf("c"))
			}
		})
	}
}

func TestWorkflowCancelRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newWFRecorder()
	rec.block["slow"] = true
	start(t, e.options(t, e.config(), rec.registry(t)))
	wf := tasks.NewWorkflow()
	wf.Step("slow", "wf:step", nil)
	wf.Then("after", "wf:step", nil)
	wf.OnComplete("wf:done", []byte("complete"))
	info, err := e.client.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	<-rec.started
	awaitCancelListener(t, e.redis.Addr())
	if err := e.client.CancelWorkflow(t.Context(), info.ID); err != nil {
		t.Fatal(err)
	}
	st := e.awaitWorkflow(t, info.ID)
	if st.State != "cancelled" || st.Cancelled != 2 {
		t.Errorf("workflow %+v, want cancelled with 2 steps cancelled", st.Summary)
	}
	// The running step was asked to stop: asynq archives it as cancelled.
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("the step's last state: %s; worker log:\n%s", last, e.logs.String())
		}
	}()
	poll(t, "the running step archived", func() bool {
		ti, err := e.client.Inspector().GetTaskInfo("default", "wf:"+info.ID+":slow")
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%s %s", ti.State, ti.LastErr)
		return ti.State == asynq.TaskStateArchived
	})
	poll(t, "on_complete", func() bool { return rec.callbacks("complete") == 1 })
	if err := e.client.CancelWorkflow(t.Context(), info.ID); !errors.Is(err, tasks.ErrWorkflowEnded) {
		t.Errorf("second cancel: %v, want ErrWorkflowEnded", err)
	}
	if rec.runsOf("after") != 0 {
		t.Errorf("the step after the cancelled one ran")
	}
}

// awaitCancelListener waits until a worker listens for cancellations on
// Redis at addr (pub/sub delivers a message only to those subscribed).
func awaitCancelListener(t *testing.T, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	poll(t, "the worker's cancellation listener", func() bool {
		n, err := rdb.PubSubNumSub(t.Context(), taskcancel.Channel).Result()
		return err == nil && n[taskcancel.Channel] > 0
	})
}
