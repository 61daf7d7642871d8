package main_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// Workflows survive SIGKILLed workers: three worker processes run 20
// workflows of 50 steps (a root, 48 steps after it, one step after those
// 48) while one of them is killed every three seconds and replaced. Every
// workflow succeeds, every step ran (at least once, counted from the
// workers' task lines), every step was released exactly once and every
// callback enqueued exactly once (the workflows' own counters, which a
// second release or a second callback would push past their totals).
func TestWorkflowsSurviveKilledWorkers(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	ctx := t.Context()
	args := []string{"--concurrency", "8", "--set", "worker.orphan_check_interval=200ms", "--set", "worker.orphan_grace=1s"}
	var procs, live []*proc
	spawn := func() {
		p := startWorker(t, rs.Addr(), args...)
		procs, live = append(procs, p), append(live, p)
	}
	for range 3 {
		spawn()
	}
	for _, p := range live {
		p.addr(t)
	}

	const workflows, width = 20, 48
	sleep := []byte(`{"duration":"300ms"}`)
	ids := make([]string, workflows)
	for i := range ids {
		wf := tasks.NewWorkflow()
		wf.Step("root", "demo:sleep", sleep)
		mids := make([]string, width)
		for j := range mids {
			mids[j] = fmt.Sprintf("m%d", j)
			wf.Step(mids[j], "demo:sleep", sleep).After("root")
		}
		wf.Step("join", "demo:sleep", sleep).After(mids...)
		keep := tasks.EnqueueOptions{Retention: time.Hour}
		wf.OnSuccess("demo:echo", []byte(`"success"`)).Options(keep)
		wf.OnComplete("demo:echo", []byte(`"complete"`)).Options(keep)
		info, err := client.EnqueueWorkflow(ctx, wf)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = info.ID
	}

	// Kill the first live worker every 3 s, five times, replacing it.
	kills := 0
	for range 5 {
		time.Sleep(3 * time.Second) // the pace of the faults, not a synchronisation
		victim := live[0]
		if code, _ := victim.stop(t, syscall.SIGKILL); code != -1 {
			t.Fatalf("worker exit code %d after SIGKILL; want -1", code)
		}
		kills++
		live = live[1:]
		spawn()
	}

	// The killed workers' tasks come back when their 30 s lease expires.
	deadline := time.Now().Add(80 * time.Second)
	states := make([]*tasks.WorkflowState, workflows)
	for i, id := range ids {
		for {
			st, err := client.Workflow(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Finished != nil {
				states[i] = st
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("workflow %d (%s) not finished: %+v", i, id, st.Summary)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	runs, recovered := map[string]int{}, 0
	for _, p := range procs {
		for line := range strings.SplitSeq(p.output(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			msg, _ := m["msg"].(string)
			id, _ := m["task_id"].(string)
			switch {
			case msg == "task done":
				runs[id]++
			case strings.HasPrefix(msg, "orphaned task recovered") && strings.HasPrefix(id, "wf:"):
				recovered++
			}
		}
	}
	if recovered == 0 {
		t.Error("no step was recovered from a killed worker: the kills hit no running step")
	}
	reruns := 0
	for i, st := range states {
		if st.State != "succeeded" || st.Succeeded != width+2 || st.Released != width+2 || st.Callbacks != 2 {
			t.Errorf("workflow %d: %+v; want succeeded, %d steps succeeded and released once each, 2 callbacks", i, st.Summary, width+2)
		}
		// A step's success is recorded after its processor returned
		// nil: succeeded means it ran. Its "task done" line may be lost
		// with a worker killed right after the record.
		for _, s := range st.Steps {
			if s.State != "succeeded" {
				t.Errorf("step %s: %s", s.TaskID, s.State)
			}
			if n := runs[s.TaskID]; n > 1 {
				reruns += n - 1
			}
		}
	}
	// The callbacks finish too (a worker picks them up).
	poll(t, "every callback done", func() bool {
		for _, id := range ids {
			for _, cb := range []string{"~on_success", "~on_complete"} {
				info, err := client.Inspector().GetTaskInfo("default", "wf:"+id+":"+cb)
				if err != nil || info.State != asynq.TaskStateCompleted {
					return false
				}
			}
		}
		return true
	})
	t.Logf("%d kills; %d steps recovered from killed workers; %d step runs beyond the first", kills, recovered, reruns)
}
