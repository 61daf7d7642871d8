package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

func TestSIGTERMDuringLongTaskLosesNothing(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	const shutdown = 2 * time.Second
	w := startWorker(t, rs.Addr(), "--concurrency", "2", "--set", "worker.shutdown_timeout="+shutdown.String())
	w.addr(t)

	ctx := t.Context()
	keep := tasks.EnqueueOptions{Retention: time.Hour, MaxRetry: new(int)} // max_retry 0: a charged attempt would archive
	long, err := client.Enqueue(ctx, "demo:sleep", []byte(`{"duration":"4s"}`), &keep)
	if err != nil {
		t.Fatal(err)
	}
	short, err := client.Enqueue(ctx, "demo:sleep", []byte(`{"duration":"1s"}`), &keep)
	if err != nil {
		t.Fatal(err)
	}
	insp := client.Inspector()
	poll(t, "both tasks active", func() bool {
		active, err := insp.ListActiveTasks("default")
		return err == nil && len(active) == 2
	})

	code, took := w.stop(t, sigterm)
	if code != 0 {
		t.Fatalf("exit code %d; want 0; stderr:\n%s", code, w.output())
	}
	if took > shutdown+3*time.Second {
		t.Errorf("exit took %s; want at most the shutdown timeout %s plus 3s", took, shutdown)
	}
	// The short task finished during the shutdown, not before it.
	sig, done := w.index("received stop signal: shutting down", ""), w.index("task done", short.ID)
	if sig < 0 || done < sig {
		t.Errorf("short task's done line at %d, stop signal line at %d; want the task done after the signal; stderr:\n%s", done, sig, w.output())
	}
	if got, err := insp.GetTaskInfo("default", short.ID); err != nil || got.State != asynq.TaskStateCompleted {
		t.Errorf("short task: %+v, %v; want completed", got, err)
	}
	got, err := insp.GetTaskInfo("default", long.ID)
	if err != nil || got.State != asynq.TaskStatePending || got.Retried != 0 {
		t.Fatalf("long task after exit: %+v, %v; want pending, 0 retries", got, err)
	}

	// A second worker completes it.
	w2 := startWorker(t, rs.Addr())
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	final, err := client.Wait(wctx, "default", long.ID)
	if err != nil || final.State != asynq.TaskStateCompleted {
		t.Fatalf("long task on the second worker: %+v, %v; want completed", final, err)
	}
	if code, _ := w2.stop(t, sigterm); code != 0 {
		t.Errorf("second worker exit code %d; want 0", code)
	}
}

func TestThreeProcessesSplitTasks(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	var workers []*proc
	var addrs []string
	for range 3 {
		w := startWorker(t, rs.Addr(), "--concurrency", "5")
		workers = append(workers, w)
	}
	for _, w := range workers {
		addrs = append(addrs, w.addr(t))
	}

	const n = 3000
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "demo:echo", Payload: []byte(strconv.Itoa(i)), Options: tasks.EnqueueOptions{Retention: time.Hour}}
	}
	for i, res := range client.EnqueueMany(t.Context(), reqs, 32) {
		if res.Err != nil {
			t.Fatalf("enqueue %d: %v", i, res.Err)
		}
	}
	insp := client.Inspector()
	var q *asynq.QueueInfo
	poll(t, "3,000 completed tasks", func() bool {
		var err error
		q, err = insp.GetQueueInfo("default")
		return err == nil && q.Completed == n
	})
	if q.ProcessedTotal != n || q.FailedTotal != 0 || q.Pending+q.Active+q.Retry+q.Archived != 0 {
		t.Errorf("queue: processed %d, failed %d, pending %d, active %d, retry %d, archived %d; want %d processed and nothing else",
			q.ProcessedTotal, q.FailedTotal, q.Pending, q.Active, q.Retry, q.Archived, n)
	}

	// Each process counts the attempts it ran: the sum is exactly n when
	// no task was processed twice.
	const series = `tuskq_tasks_processed_total{queue="default",task_type="demo:echo"}`
	sum := 0
	var per []int
	for i, addr := range addrs {
		_, body := get(t, addr, "/metrics")
		c := 0
		for line := range strings.SplitSeq(body, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				c, _ = strconv.Atoi(v)
			}
		}
		if c == 0 {
			t.Errorf("worker %d processed no task", i)
		}
		per = append(per, c)
		sum += c
	}
	t.Logf("tasks per process: %v", per)
	if sum != n {
		t.Errorf("processes ran %d attempts in total (%v); want exactly %d", sum, per, n)
	}
	for i, w := range workers {
		if code, _ := w.stop(t, sigterm); code != 0 {
			t.Errorf("worker %d exit code %d; want 0", i, code)
		}
	}
}

// SIGTSTP pauses the worker: /readyz says so and a task enqueued after it
// stays pending, with no dequeue (RPOPLPUSH) run at all, while the
// worker's forwarder, which keeps running, moves a task scheduled 1 s
// later to pending; a second worker then processes both.
func TestSIGTSTPPauses(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	w := startWorker(t, rs.Addr())
	addr := w.addr(t)
	if code, body := get(t, addr, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s; want 200", code, body)
	}
	if err := w.cmd.Process.Signal(sigtstp); err != nil {
		t.Fatal(err)
	}
	w.line(t, "worker paused", "")
	if code, body := get(t, addr, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "paused") {
		t.Errorf("/readyz after SIGTSTP = %d %s; want 503 paused", code, body)
	}

	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	fetches := redistest.CommandCalls(t, rdb, "rpoplpush")
	now, err := client.Enqueue(ctx, "demo:echo", []byte("now"), &tasks.EnqueueOptions{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	later, err := client.Enqueue(ctx, "demo:echo", []byte("later"), &tasks.EnqueueOptions{Retention: time.Hour, ProcessIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	insp := client.Inspector()
	poll(t, "the paused worker's forwarder to move the scheduled task to pending", func() bool {
		ti, err := insp.GetTaskInfo("default", later.ID)
		return err == nil && ti.State != asynq.TaskStateScheduled
	})
	for _, id := range []string{now.ID, later.ID} {
		if ti, err := insp.GetTaskInfo("default", id); err != nil || ti.State != asynq.TaskStatePending {
			state := "missing"
			if err == nil {
				state = ti.State.String()
			}
			t.Errorf("task %s enqueued after SIGTSTP: %s, %v; want pending (not fetched)", id, state, err)
		}
	}
	if n := redistest.CommandCalls(t, rdb, "rpoplpush") - fetches; n != 0 {
		t.Errorf("the paused worker ran the dequeue script's RPOPLPUSH %d times; want 0", n)
	}
	if code, _ := w.stop(t, sigterm); code != 0 {
		t.Errorf("exit code %d; want 0", code)
	}

	w2 := startWorker(t, rs.Addr())
	for _, info := range []*tasks.TaskInfo{now, later} {
		wctx, cancel := context.WithTimeout(ctx, waitFor)
		final, err := client.Wait(wctx, "default", info.ID)
		cancel()
		if err != nil || final.State != asynq.TaskStateCompleted {
			t.Errorf("task %s on a second worker: %v; want completed", info.ID, err)
		}
	}
	if code, _ := w2.stop(t, sigterm); code != 0 {
		t.Errorf("second worker exit code %d; want 0", code)
	}
}

func TestRedisUnreachableExits1(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t)
	code, stdout, stderr := run(t, []string{"TUSKQ_REDIS_ADDR=" + addr}, "--listen", "127.0.0.1:0")
	want := fmt.Sprintf("worker: cannot reach Redis at %s: dial tcp %s: connect: connection refused\n", addr, addr)
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, want)
	}
}

func TestBadInputExits2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("worker:\n  concurency: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const help = "Run 'worker --help' for usage.\n"
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad flag value", nil, []string{"--concurrency", "abc"},
			"worker: invalid argument \"abc\" for \"--concurrency\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax\n" + help},
		{"unknown flag", nil, []string{"--nope"}, "worker: unknown flag: --nope\n" + help},
		{"argument", nil, []string{"extra"}, "worker: unexpected argument \"extra\"; the worker takes only flags\n" + help},
		{"invalid values", []string{"TUSKQ_WORKER_CONCURRENCY=0"}, []string{"--queues", "critical=0"},
			"config: TUSKQ_WORKER_CONCURRENCY: worker.concurrency: 0 is not valid; expected at least 1\n" +
				"config: --queues: worker.queues.critical: 0 is not valid; expected a weight of at least 1\n"},
		{"malformed queues", nil, []string{"--queues", "critical"},
			"config: --queues: worker.queues: \"critical\" is not valid; expected comma-separated name=weight pairs such as critical=6,default=3,low=1\n"},
		{"unknown key in file", nil, []string{"--config", typo},
			"config: " + typo + ": unknown key \"worker.concurency\" (did you mean \"worker.concurrency\"?)\n"},
		{"bad allow-list entry", []string{"TUSKQ_WORKER_HTTP_ALLOW_HOSTS=http://x/"}, nil,
			"config: TUSKQ_WORKER_HTTP_ALLOW_HOSTS: worker.http_allow_hosts: \"http://x/\" is not valid; expected a host or host:port such as api.example.com or 10.0.0.5:8443, or an IP range such as 10.0.0.0/8\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, tc.env, tc.args...)
			if code != 2 || stdout != "" || stderr != tc.want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2, no stdout, stderr:\n%s", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestHelpAndConfigCommand(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, nil, "--help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage:\n  worker [flags]") || !strings.Contains(stdout, "--concurrency int") {
		t.Errorf("--help: exit %d, stdout:\n%s", code, stdout)
	}
	file := filepath.Join(t.TempDir(), "ok.yaml")
	if err := os.WriteFile(file, []byte("worker:\n  concurrency: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run(t, nil, "config", "validate", file); code != 0 || stdout != file+": ok\n" {
		t.Errorf("config validate: exit %d, stdout %q, stderr %q; want 0, %q", code, stdout, stderr, file+": ok\n")
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	w := startWorker(t, rs.Addr(), "--set", "worker.shutdown_timeout=1m")
	w.addr(t)
	if _, err := client.Enqueue(t.Context(), "demo:sleep", []byte(`{"duration":"1m"}`), nil); err != nil {
		t.Fatal(err)
	}
	poll(t, "the task active", func() bool {
		active, err := client.Inspector().ListActiveTasks("default")
		return err == nil && len(active) == 1
	})
	if err := w.cmd.Process.Signal(sigterm); err != nil {
		t.Fatal(err)
	}
	w.line(t, "worker stopping: no new tasks; waiting for tasks in flight", "")
	code, took := w.stop(t, sigterm)
	if code != 1 || took > 5*time.Second {
		t.Errorf("exit %d after %s; want 1 at once", code, took)
	}
	if w.index("received a second stop signal: exiting without waiting for tasks in flight; they return to their queues when their leases expire", "") < 0 {
		t.Errorf("no second-signal line in stderr:\n%s", w.output())
	}
}
