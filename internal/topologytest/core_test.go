package topologytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// seenTask is what a processor saw of one attempt.
type seenTask struct {
	id, queue, traceID string
	at                 time.Time
}

// recorder is a processor that records every attempt and succeeds.
type recorder struct {
	mu   sync.Mutex
	seen []seenTask
}

func (r *recorder) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	q, _ := asynq.GetQueueName(ctx)
	r.mu.Lock()
	r.seen = append(r.seen, seenTask{id: id, queue: q, traceID: trace.SpanContextFromContext(ctx).TraceID().String(), at: time.Now()})
	r.mu.Unlock()
	return nil
}

// byID returns the attempts per task ID.
func (r *recorder) byID() map[string][]seenTask {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]seenTask{}
	for _, s := range r.seen {
		out[s.id] = append(out[s.id], s)
	}
	return out
}

// recording returns a new recorder and a registry in which it processes
// every one of types.
func recording(types ...string) (*recorder, *tasks.Registry) {
	rec, reg := &recorder{}, tasks.NewRegistry()
	for _, typ := range types {
		reg.MustRegister(typ, rec)
	}
	return rec, reg
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// testEnqueue enqueues tasks into three weighted queues (on three nodes
// in cluster mode): each runs exactly once, in its queue, with the trace
// of its enqueue in the handler's context and on the worker's log line.
func testEnqueue(t *testing.T, tp *topo) {
	qs := tp.queues(t, "enq", 3)
	if tp.cluster != nil && tp.nodes(t, qs) != 3 {
		t.Fatalf("queues %v span %d nodes; want 3", qs, tp.nodes(t, qs))
	}
	rec, reg := recording("topo:count")
	w := startWorker(t, tp.config(weights(qs)), reg)
	c := tp.client(t)

	const perQueue = 10
	want := map[string]*tasks.TaskInfo{}
	for i := range perQueue * len(qs) {
		q := qs[i%len(qs)]
		info, err := c.Enqueue(t.Context(), "topo:count", fmt.Appendf(nil, `{"n":%d}`, i), &tasks.EnqueueOptions{Queue: q})
		if err != nil {
			t.Fatalf("enqueue %d into %s: %v", i, q, err)
		}
		if info.Queue != q || info.TraceID == "" {
			t.Fatalf("enqueue %d: queue %s, trace %q; want %s and a trace", i, info.Queue, info.TraceID, q)
		}
		want[info.ID] = info
	}
	poll(t, "every task processed", func() bool { return rec.count() >= len(want) })
	poll(t, "a task done line per task", func() bool { return len(w.logs.Records(t, "task done")) >= len(want) })
	got := rec.byID()
	perQ := map[string]int{}
	for id, info := range want {
		s := got[id]
		if len(s) != 1 || s[0].queue != info.Queue || s[0].traceID != info.TraceID {
			t.Fatalf("task %s (queue %s, trace %s) seen %+v; want once, in its queue, with its trace", id, info.Queue, info.TraceID, s)
		}
		perQ[s[0].queue]++
	}
	for _, q := range qs {
		if perQ[q] != perQueue {
			t.Errorf("queue %s: %d tasks processed; want %d", q, perQ[q], perQueue)
		}
	}
	if rec.count() != len(want) {
		t.Fatalf("%d attempts; want exactly %d", rec.count(), len(want))
	}
	done := w.logs.Records(t, "task done")
	if len(done) != len(want) {
		t.Fatalf("%d task done lines; want %d", len(done), len(want))
	}
	for _, l := range done {
		info := want[fmt.Sprint(l["task_id"])]
		if info == nil || l["trace_id"] != info.TraceID || l["queue"] != info.Queue || l["task_type"] != "topo:count" {
			t.Fatalf("task done line %v; want the trace_id and queue of an enqueued task", l)
		}
	}
}

// testRetryArchive: a task that always fails, with max retry 1, is tried
// twice and archived; the Inspector lists it with its error.
func testRetryArchive(t *testing.T, tp *topo) {
	qs := tp.queues(t, "retry", 2)
	var attempts counter
	reg := tasks.NewRegistry()
	reg.MustRegister("topo:fail", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		attempts.add(id)
		return errors.New("boom")
	}))
	startWorker(t, tp.config(weights(qs)), reg)
	c := tp.client(t)
	for _, q := range qs {
		info, err := c.Enqueue(t.Context(), "topo:fail", []byte(`{}`), &tasks.EnqueueOptions{Queue: q, MaxRetry: intp(1)})
		if err != nil {
			t.Fatal(err)
		}
		ti := wait(t, c, q, info.ID)
		if ti.State != asynq.TaskStateArchived || ti.Retried != 1 || ti.LastErr != "boom" || attempts.get(info.ID) != 2 {
			t.Fatalf("queue %s: state %s, retried %d, last error %q, %d attempts; want archived, 1, boom, 2",
				q, ti.State, ti.Retried, ti.LastErr, attempts.get(info.ID))
		}
		archived, err := c.Inspector().ListArchivedTasks(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(archived) != 1 || archived[0].ID != info.ID || archived[0].LastErr != "boom" {
			t.Fatalf("queue %s: archived tasks %+v; want only %s", q, archived, info.ID)
		}
	}
}

// testScheduled: tasks enqueued with ProcessIn wait their time in the
// scheduled set, then run once.
func testScheduled(t *testing.T, tp *topo) {
	qs := tp.queues(t, "sched", 2)
	rec, reg := recording("topo:sched")
	startWorker(t, tp.config(weights(qs)), reg)
	c := tp.client(t)
	const delay = 2 * time.Second
	enqueued := time.Now()
	infos := map[string]*tasks.TaskInfo{}
	for _, q := range qs {
		info, err := c.Enqueue(t.Context(), "topo:sched", []byte(`{}`), &tasks.EnqueueOptions{Queue: q, ProcessIn: delay})
		if err != nil {
			t.Fatal(err)
		}
		if info.State != asynq.TaskStateScheduled {
			t.Fatalf("queue %s: state %s after enqueue; want scheduled", q, info.State)
		}
		infos[info.ID] = info
	}
	poll(t, "the scheduled tasks to run", func() bool { return rec.count() >= len(infos) })
	for id, s := range rec.byID() {
		info := infos[id]
		if info == nil || len(s) != 1 || s[0].queue != info.Queue {
			t.Fatalf("task %s seen %+v; want once in its queue", id, s)
		}
		// asynq keeps due times in whole seconds: a task may run up to 1 s
		// before ProcessIn has passed, never before its due second.
		if s[0].at.Unix() < info.NextProcessAt.Unix() || s[0].at.Sub(enqueued) < delay-time.Second {
			t.Fatalf("task %s ran %v after the enqueue; due at %v", id, s[0].at.Sub(enqueued), info.NextProcessAt)
		}
	}
}

// testUnique: a second enqueue of a unique task in the same queue is a
// duplicate; the same task in another queue (another node in cluster
// mode) is not.
func testUnique(t *testing.T, tp *topo) {
	qs := tp.queues(t, "uniq", 2)
	c := tp.client(t)
	opts := func(q string) *tasks.EnqueueOptions {
		return &tasks.EnqueueOptions{Queue: q, UniqueTTL: time.Minute}
	}
	first, err := c.Enqueue(t.Context(), "topo:unique", []byte(`{"k":1}`), opts(qs[0]))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(t.Context(), "topo:unique", []byte(`{"k":1}`), opts(qs[0]))
	if !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("second enqueue: %v; want asynq.ErrDuplicateTask", err)
	}
	other, err := c.Enqueue(t.Context(), "topo:unique", []byte(`{"k":1}`), opts(qs[1]))
	if err != nil {
		t.Fatalf("the same task in queue %s: %v; want it stored", qs[1], err)
	}
	res := c.EnqueueMany(t.Context(), []tasks.Request{
		{Type: "topo:unique", Payload: []byte(`{"k":1}`), Options: *opts(qs[0])},
		{Type: "topo:unique", Payload: []byte(`{"k":1}`), Options: *opts(qs[1])},
	}, 2)
	for i, r := range res {
		if !errors.Is(r.Err, asynq.ErrDuplicateTask) {
			t.Fatalf("EnqueueMany request %d: %v; want asynq.ErrDuplicateTask", i, r.Err)
		}
	}
	// Uniqueness until the task ends: the enqueue script reads the
	// holder's task record, in the queue's hash slot.
	keyed := &tasks.EnqueueOptions{Queue: qs[1], UniqueKey: "order-1", ProcessIn: time.Hour}
	held, err := c.Enqueue(t.Context(), "topo:keyed", nil, keyed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(t.Context(), "topo:keyed2", nil, keyed); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("equal keyed task: %v; want asynq.ErrDuplicateTask", err)
	}
	if err := c.Inspector().DeleteTask(qs[1], held.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(t.Context(), "topo:keyed2", nil, keyed); err != nil {
		t.Fatalf("keyed task after the holder was deleted: %v", err)
	}
	for q, id := range map[string]string{qs[0]: first.ID, qs[1]: other.ID} {
		qi, err := c.Inspector().GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		if qi.Pending != 1 {
			t.Fatalf("queue %s: %d pending; want only %s", q, qi.Pending, id)
		}
	}
}

// testEnqueueMany enqueues 300 tasks into three queues (three nodes in
// cluster mode) in one EnqueueMany; each runs exactly once, and
// Client.Wait sees the retained ones completed.
func testEnqueueMany(t *testing.T, tp *topo) {
	qs := tp.queues(t, "bulk", 3)
	rec, reg := recording("topo:bulk")
	startWorker(t, tp.config(weights(qs)), reg)
	c := tp.client(t)
	reqs := make([]tasks.Request, 300)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "topo:bulk", Payload: fmt.Appendf(nil, `{"n":%d}`, i),
			Options: tasks.EnqueueOptions{Queue: qs[i%len(qs)], Retention: time.Hour}}
	}
	ids := map[string]string{}
	for i, r := range c.EnqueueMany(t.Context(), reqs, 8) {
		if r.Err != nil {
			t.Fatalf("request %d: %v", i, r.Err)
		}
		if r.Info.Queue != reqs[i].Options.Queue {
			t.Fatalf("request %d stored in %s; want %s", i, r.Info.Queue, reqs[i].Options.Queue)
		}
		ids[r.Info.ID] = r.Info.Queue
	}
	if len(ids) != len(reqs) {
		t.Fatalf("%d distinct task IDs; want %d", len(ids), len(reqs))
	}
	for id, q := range ids {
		if ti := wait(t, c, q, id); ti.State != asynq.TaskStateCompleted {
			t.Fatalf("task %s: %s; want completed", id, ti.State)
		}
	}
	got := rec.byID()
	for id, q := range ids {
		if s := got[id]; len(s) != 1 || s[0].queue != q {
			t.Fatalf("task %s seen %+v; want once in %s", id, s, q)
		}
	}
	if rec.count() != len(reqs) {
		t.Fatalf("%d attempts; want %d", rec.count(), len(reqs))
	}
	for _, q := range qs {
		qi, err := c.Inspector().GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		if qi.Completed != len(reqs)/len(qs) {
			t.Errorf("queue %s: %d completed; want %d", q, qi.Completed, len(reqs)/len(qs))
		}
	}
}

// testRoutes: the enqueue command, given only a config file (redis mode,
// addresses and routes), routes tasks to the configured queues and max
// retry, and a worker built from the same file completes them (--wait).
func testRoutes(t *testing.T, tp *topo) {
	qs := tp.queues(t, "route", 2)
	cfg := tp.config(weights(qs))
	cfg.Routes = map[string]config.RouteConfig{
		"route:*":       {Queue: qs[0], MaxRetry: intp(2)},
		"route:special": {Queue: qs[1], Timeout: 7 * time.Second},
	}
	rec, reg := recording("route:plain", "route:special")
	startWorker(t, cfg, reg)
	path := writeConfig(t, cfg)
	c := tp.client(t)
	for _, tc := range []struct {
		typ, queue string
		maxRetry   int
		timeout    time.Duration
	}{
		{"route:plain", qs[0], 2, 30 * time.Minute},
		{"route:special", qs[1], 25, 7 * time.Second},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		code := enqueuecli.Run(ctx, []string{"--config", path, "--wait=25s", tc.typ, `{"x":1}`}, enqueuecli.Env{
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Environ: []string{},
		})
		cancel()
		if code != 0 {
			t.Fatalf("enqueue %s: exit %d: %s%s", tc.typ, code, stdout.String(), stderr.String())
		}
		var tl enqueuecli.TaskLine
		if err := json.Unmarshal(bytes.TrimSpace(lastLine(stdout.String())), &tl); err != nil {
			t.Fatalf("enqueue %s: output %q: %v", tc.typ, stdout.String(), err)
		}
		if tl.Queue != tc.queue || tl.State != "completed" {
			t.Fatalf("enqueue %s: %+v; want completed in %s", tc.typ, tl, tc.queue)
		}
		ti, err := c.Inspector().GetTaskInfo(tl.Queue, tl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ti.MaxRetry != tc.maxRetry || ti.Timeout != tc.timeout {
			t.Fatalf("%s: max retry %d, timeout %s; want %d, %s (the route's)", tc.typ, ti.MaxRetry, ti.Timeout, tc.maxRetry, tc.timeout)
		}
		if s := rec.byID()[tl.ID]; len(s) != 1 || s[0].queue != tc.queue {
			t.Fatalf("%s seen %+v; want once in %s", tc.typ, s, tc.queue)
		}
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) []byte {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return []byte(lines[len(lines)-1])
}

// testGracefulShutdown: a worker shut down while a task runs past the
// shutdown timeout hands it back to its queue with no retry charged (max
// retry 0 would archive it otherwise); a second worker completes it.
func testGracefulShutdown(t *testing.T, tp *topo) {
	qs := tp.queues(t, "shutdown", 1)
	started := make(chan string, 1)
	reg := tasks.NewRegistry()
	reg.MustRegister("topo:long", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		started <- id
		<-ctx.Done()
		return ctx.Err()
	}))
	cfg := tp.config(weights(qs))
	cfg.Worker.ShutdownTimeout = 300 * time.Millisecond
	w := startWorker(t, cfg, reg)
	c := tp.client(t)
	info, err := c.Enqueue(t.Context(), "topo:long", []byte(`{}`), &tasks.EnqueueOptions{Queue: qs[0], MaxRetry: intp(0), Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-started:
		if id != info.ID {
			t.Fatalf("started %s; want %s", id, info.ID)
		}
	case <-time.After(waitFor):
		t.Fatal("the task did not start")
	}
	if err := w.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	ti, err := c.Inspector().GetTaskInfo(qs[0], info.ID)
	if err != nil || ti.State != asynq.TaskStatePending || ti.Retried != 0 {
		t.Fatalf("after shutdown: %+v, %v; want pending with 0 retries", ti, err)
	}
	if n := len(w.logs.Records(t, "task handed back")); n != 1 {
		t.Fatalf("%d \"task handed back\" lines; want 1", n)
	}
	_, reg2 := recording("topo:long")
	startWorker(t, tp.config(weights(qs)), reg2)
	if ti := wait(t, c, qs[0], info.ID); ti.State != asynq.TaskStateCompleted || ti.Retried != 0 {
		t.Fatalf("on the second worker: %s with %d retries; want completed with 0", ti.State, ti.Retried)
	}
}

// withListen makes a worker serve its endpoints on a free port.
func withListen(cfg config.Config) config.Config {
	cfg.Worker.Listen = "127.0.0.1:0"
	return cfg
}

// testWorkerEndpoints: /readyz answers 200 with Redis up, /metrics counts
// the tasks of each queue.
func testWorkerEndpoints(t *testing.T, tp *topo) {
	qs := tp.queues(t, "metrics", 2)
	rec, reg := recording("topo:metric")
	w := startWorker(t, withListen(tp.config(weights(qs))), reg)
	c := tp.client(t)
	for i := range 5 {
		if _, err := c.Enqueue(t.Context(), "topo:metric", []byte(`{}`), &tasks.EnqueueOptions{Queue: qs[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + w.Addr()
	var body string
	poll(t, "5 tasks in the metrics", func() bool {
		_, body = httpGet(t, base+"/metrics")
		return testutil.MetricLine(body, fmt.Sprintf(`tuskq_tasks_processed_total{queue=%q,task_type="topo:metric"}`, qs[0])) != "" &&
			testutil.MetricLine(body, fmt.Sprintf(`tuskq_tasks_processed_total{queue=%q,task_type="topo:metric"}`, qs[1])) != "" &&
			rec.count() == 5
	})
	for q, n := range map[string]int{qs[0]: 3, qs[1]: 2} {
		prefix := fmt.Sprintf(`tuskq_tasks_processed_total{queue=%q,task_type="topo:metric"}`, q)
		poll(t, "the metric of "+q, func() bool {
			_, body = httpGet(t, base+"/metrics")
			return testutil.MetricLine(body, prefix) == fmt.Sprintf("%s %d", prefix, n)
		})
	}
	code, body := httpGet(t, base+"/readyz")
	if code != 200 || strings.TrimSpace(body) != `{"status":"ready"}` {
		t.Fatalf("/readyz: %d %s; want 200 ready", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
}
