package main_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// recoverWithin bounds the wait for a killed worker's task to come back:
// asynq's 30 s lease, the orphan grace and check, and a loaded machine.
const recoverWithin = 3 * time.Minute

// A task with a unique key whose worker process was SIGKILLed keeps its
// lock while it is orphaned and while a second worker runs it again: an
// equal task is refused until the recovered task completes, which it does
// exactly once, and accepted after.
func TestUniqueKeySurvivesKilledWorker(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	insp := client.Inspector()
	ctx := t.Context()

	// equal enqueues a task equal to the first (same queue and unique key,
	// another type and payload) and reports whether it was refused.
	equal := func() bool {
		t.Helper()
		_, err := client.Enqueue(ctx, "demo:echo", []byte(`"second"`), &tasks.EnqueueOptions{UniqueKey: "order-7", Retention: time.Hour})
		switch {
		case errors.Is(err, asynq.ErrDuplicateTask):
			if want := `tasks: enqueue "demo:echo": unique key "order-7" of queue "default" is held by an equal task: task already exists`; err.Error() != want {
				t.Fatalf("duplicate error %q; want %q", err, want)
			}
			return true
		case err != nil:
			t.Fatal(err)
		}
		return false
	}
	state := func(id string) *asynq.TaskInfo {
		t.Helper()
		info, err := insp.GetTaskInfo("default", id)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(recoverWithin)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s", recoverWithin, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	w1 := startWorker(t, rs.Addr(), "--concurrency", "1")
	w1.addr(t)
	// 10 s: long enough to be killed while running, short enough for the
	// rerun. max_retry 0: a charged attempt would archive it.
	first, err := client.Enqueue(ctx, "demo:sleep", []byte(`{"duration":"10s"}`),
		&tasks.EnqueueOptions{UniqueKey: "order-7", Retention: time.Hour, MaxRetry: new(int)})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the task active on the first worker", func() bool { return state(first.ID).State == asynq.TaskStateActive })
	if code, _ := w1.stop(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("first worker exit code %d after SIGKILL; want -1 (killed); stderr:\n%s", code, w1.output())
	}
	if w1.find("task done", first.ID) != nil || w1.find("task failed", first.ID) != nil {
		t.Fatalf("the first worker finished the task before it was killed; stderr:\n%s", w1.output())
	}
	if !equal() {
		t.Fatal("equal task accepted while the killed worker's task is still active")
	}

	// IsOrphaned: active with an expired lease (ListActiveTasks sets it;
	// GetTaskInfo does not).
	orphaned := func() bool {
		t.Helper()
		active, err := insp.ListActiveTasks("default")
		if err != nil {
			t.Fatal(err)
		}
		return len(active) == 1 && active[0].ID == first.ID && active[0].IsOrphaned
	}
	until("the task orphaned (active, lease expired)", orphaned)

	// The second worker recovers the orphan 2 s (the grace) after its lease
	// expired; an equal task is refused all that time.
	const recoveredMsg = "orphaned task recovered: its lease expired, so its worker died or lost Redis; handed back to the queue without charging a retry"
	w2 := startWorker(t, rs.Addr(), "--concurrency", "1",
		"--set", "worker.orphan_check_interval=100ms", "--set", "worker.orphan_grace=2s")
	checks := 0
	until("the orphan recovered by the second worker", func() bool {
		if w2.find(recoveredMsg, first.ID) != nil {
			return true
		}
		if orphaned() {
			checks++
			if !equal() {
				t.Fatalf("equal task accepted while the first is orphaned (check %d)", checks)
			}
		}
		return false
	})
	if checks == 0 {
		t.Fatal("the orphan was recovered before an equal enqueue was tried")
	}
	t.Logf("%d equal enqueues refused while the task was orphaned", checks)
	w2addr := w2.addr(t)
	recovered := w2.line(t, recoveredMsg, first.ID)
	if recovered["queue"] != "default" {
		t.Errorf("recovery line %v; want queue default", recovered)
	}
	until("the recovered task running on the second worker", func() bool {
		return state(first.ID).State == asynq.TaskStateCompleted || state(first.ID).State == asynq.TaskStateActive && !orphaned()
	})
	running := state(first.ID).State == asynq.TaskStateActive
	if running && !equal() {
		t.Fatal("equal task accepted while the recovered task runs")
	}
	if !running {
		t.Log("the recovered task completed before it was seen running; the refusal while it runs was not checked")
	}

	until("the recovered task completed", func() bool { return state(first.ID).State == asynq.TaskStateCompleted })
	if got := state(first.ID); got.Retried != 0 {
		t.Errorf("recovered task retried %d times; want 0 (a recovery charges no retry)", got.Retried)
	}
	if equal() {
		t.Fatal("equal task refused after the recovered task completed")
	}

	// Exactly one finished attempt, on the second worker: one "task done"
	// line, no "task failed" line, and one processed demo:sleep in its
	// metrics.
	attempts := map[string]int{}
	for line := range strings.SplitSeq(w2.output(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["task_id"] == first.ID {
			if msg, _ := m["msg"].(string); !strings.HasPrefix(msg, "orphaned task recovered") {
				attempts[msg]++
			}
		}
	}
	if len(attempts) != 1 || attempts["task done"] != 1 {
		t.Errorf("second worker's lines for the task: %v; want exactly one \"task done\"; stderr:\n%s", attempts, w2.output())
	}
	const series = `tuskq_tasks_processed_total{queue="default",task_type="demo:sleep"}`
	_, body := get(t, w2addr, "/metrics")
	processed := -1
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			processed, _ = strconv.Atoi(v)
		}
	}
	if processed != 1 {
		t.Errorf("second worker's %s = %d; want 1", series, processed)
	}
	if code, _ := w2.stop(t, sigterm); code != 0 {
		t.Errorf("second worker exit code %d; want 0", code)
	}
}
