package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/producer"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// sseMsg is one Server-Sent Events message.
type sseMsg struct {
	id, event string
	ev        events.Event
	comment   bool
}

// sse is an open GET /v1/events stream.
type sse struct {
	msgs   chan sseMsg
	cancel context.CancelFunc
	done   chan struct{}
}

// openEvents opens the stream at path (with query) and returns it once
// its first comment arrived (the reader is registered by then).
func (e *apiEnv) openEvents(t *testing.T, path string, hdr ...string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{msgs: make(chan sseMsg, 100_000), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.msgs)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var m sseMsg
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					if err := json.Unmarshal([]byte(data), &m.ev); err != nil {
						t.Errorf("event data %q: %v", data, err)
					}
					s.msgs <- m
				}
				m, data = sseMsg{}, ""
			case strings.HasPrefix(line, ":"):
				s.msgs <- sseMsg{comment: true}
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}()
	t.Cleanup(s.close)
	select {
	case m := <-s.msgs:
		if !m.comment {
			t.Fatalf("first message %+v, want the opening comment", m)
		}
	case <-time.After(waitLimit):
		t.Fatal("no opening comment")
	}
	return s
}

func (s *sse) close() {
	s.cancel()
	<-s.done
}

// next returns the next event (skipping comments), failing after limit.
func (s *sse) next(t *testing.T, limit time.Duration) sseMsg {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatal("event stream ended")
			}
			if m.comment {
				continue
			}
			if m.event != m.ev.Kind || m.id == "" {
				t.Fatalf("message event %q id %q for %+v", m.event, m.id, m.ev)
			}
			return m
		case <-timer.C:
			t.Fatalf("no event within %s", limit)
		}
	}
}

// none checks that no event arrives before a heartbeat does.
func (s *sse) noneBeforeHeartbeat(t *testing.T) {
	t.Helper()
	for {
		select {
		case m := <-s.msgs:
			if m.comment {
				return
			}
			t.Fatalf("unexpected event %+v", m.ev)
		case <-time.After(waitLimit):
			t.Fatal("no heartbeat")
		}
	}
}

// newClient returns a tasks.Client on the env's Redis, configured as the
// API's.
func (e *apiEnv) newClient(t *testing.T) *tasks.Client {
	t.Helper()
	opt, err := redisconn.ProducerConnOpt(e.cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	copts := producer.ClientOptions(e.cfg)
	copts.EnqueueTimeout = time.Minute // a loaded test machine
	c, err := tasks.NewClient(opt, copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func withHeartbeat(o *httpapi.Options) { o.EventsHeartbeat = 100 * time.Millisecond }

// TestEventsEveryStateInOrder runs 10,000 tasks, some failing into a
// retry and the archive, and checks that a subscriber sees every state
// change of every task, in order per task.
func TestEventsEveryStateInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: withHeartbeat})
	stream := e.openEvents(t, "/v1/events")

	reg := tasks.NewRegistry()
	reg.MustRegister("ev:ok", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	reg.MustRegister("ev:fail", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return errors.New("nope") }))
	cfg := e.cfg
	cfg.Worker.Concurrency = 20
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	const n, failing = 10_000, 100
	one := 1
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "ev:ok", Payload: []byte(fmt.Sprint(i))}
		if i%(n/failing) == 0 {
			reqs[i] = tasks.Request{Type: "ev:fail", Options: tasks.EnqueueOptions{MaxRetry: &one}}
		}
	}
	client := e.newClient(t)
	traces := map[string]string{}
	for _, r := range client.EnqueueMany(t.Context(), reqs, 0) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		traces[r.Info.ID] = r.Info.TraceID
	}
	ok := []string{events.KindEnqueued, events.KindStarted, events.KindSucceeded}
	fail := []string{events.KindEnqueued, events.KindStarted, events.KindFailed, events.KindRetrying,
		events.KindStarted, events.KindFailed, events.KindArchived}
	want := (n-failing)*len(ok) + failing*len(fail)
	seen := map[string][]events.Event{}
	deadline := time.Now().Add(3 * time.Minute)
	for range want {
		m := stream.next(t, time.Until(deadline))
		seen[m.ev.TaskID] = append(seen[m.ev.TaskID], m.ev)
	}
	if len(seen) != n {
		t.Fatalf("events of %d tasks, want %d", len(seen), n)
	}
	for id, evs := range seen {
		exp := ok
		if evs[0].TaskType == "ev:fail" {
			exp = fail
		}
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind)
			if ev.TraceID != traces[id] || ev.Queue != "default" {
				t.Fatalf("task %s: event %+v, want trace %s in queue default", id, ev, traces[id])
			}
		}
		if strings.Join(kinds, " ") != strings.Join(exp, " ") {
			t.Fatalf("task %s: events %v, want %v", id, kinds, exp)
		}
		if exp[len(exp)-1] == events.KindArchived && (evs[5].Error != "nope" || evs[4].Attempt != 2) {
			t.Fatalf("task %s: last attempt %+v %+v", id, evs[4], evs[5])
		}
	}
	stream.noneBeforeHeartbeat(t)
}

// TestEventsResume disconnects a subscriber midway and reconnects with
// Last-Event-ID: it gets exactly the events after the last one it saw,
// including those written while it was away.
func TestEventsResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: withHeartbeat})
	first := e.openEvents(t, "/v1/events")
	client := e.newClient(t)
	ctx := t.Context()
	enqueue := func(from, to int, queue string) {
		for i := from; i < to; i++ {
			if _, err := client.Enqueue(ctx, "email:send", nil, &tasks.EnqueueOptions{Queue: queue, TaskID: fmt.Sprintf("t%03d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue(0, 30, "default")
	enqueue(30, 60, "low")
	got := map[string]bool{}
	var last sseMsg
	for range 40 {
		last = first.next(t, waitLimit)
		got[last.ev.TaskID] = true
	}
	first.close()
	enqueue(60, 90, "default")
	enqueue(90, 100, "critical")

	second := e.openEvents(t, "/v1/events", "Last-Event-ID", last.id)
	for range 100 - 40 {
		m := second.next(t, waitLimit)
		if got[m.ev.TaskID] {
			t.Fatalf("task %s seen twice after the resume", m.ev.TaskID)
		}
		got[m.ev.TaskID] = true
	}
	second.noneBeforeHeartbeat(t)
	if len(got) != 100 {
		t.Errorf("saw %d tasks, want 100", len(got))
	}
	// The query parameter works as the header does.
	third := e.openEvents(t, "/v1/events?queue=critical&last_event_id="+urlQueryEscape(last.id))
	for range 10 {
		if m := third.next(t, waitLimit); m.ev.Queue != "critical" {
			t.Fatalf("queue filter let %+v through", m.ev)
		}
	}
}

// TestEventsFiltersAndScopes checks the filters, the token scopes and
// bad requests.
func TestEventsFiltersAndScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: withTokens, options: withHeartbeat})
	ops := []string{"Authorization", "Bearer " + tokenAll}
	mailer := []string{"Authorization", "Bearer " + tokenLimited}
	byType := e.openEvents(t, "/v1/events?type=sms:send", ops...)
	byTask := e.openEvents(t, "/v1/events?task_id=wanted", ops...)
	byFlow := e.openEvents(t, "/v1/events?workflow_id=wf1", ops...)
	scoped := e.openEvents(t, "/v1/events", mailer...)

	client := e.newClient(t)
	ctx := t.Context()
	for _, r := range []struct {
		typ, queue, id, flow string
	}{
		{"email:send", "default", "a", ""},  // outside the mailer's queues
		{"sms:send", "low", "b", ""},        // outside the mailer's types
		{"email:send", "low", "wanted", ""}, // the mailer's
		{"email:send", "low", "c", "wf1"},   // the mailer's, in a workflow
		{"sms:send", "default", "d", "wf2"},
	} {
		opts := &tasks.EnqueueOptions{Queue: r.queue, TaskID: r.id}
		if r.flow != "" {
			opts.Headers = map[string]string{events.HeaderWorkflow: r.flow, events.HeaderStep: "s1"}
		}
		if _, err := client.Enqueue(ctx, r.typ, nil, opts); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(s *sse, n int) []string {
		var out []string
		for range n {
			out = append(out, s.next(t, waitLimit).ev.TaskID)
		}
		s.noneBeforeHeartbeat(t)
		return out
	}
	// Sorted: b and d are in different queues, hence different streams,
	// whose events are merged in order only to the millisecond.
	got := ids(byType, 2)
	slices.Sort(got)
	if strings.Join(got, " ") != "b d" {
		t.Errorf("type filter: %s", got)
	}
	if got := strings.Join(ids(byTask, 1), " "); got != "wanted" {
		t.Errorf("task filter: %s", got)
	}
	m := byFlow.next(t, waitLimit)
	if m.ev.TaskID != "c" || m.ev.WorkflowID != "wf1" || m.ev.Step != "s1" {
		t.Errorf("workflow filter: %+v", m.ev)
	}
	if got := strings.Join(ids(scoped, 2), " "); got != "wanted c" {
		t.Errorf("the mailer's token saw %s", got)
	}

	for _, c := range []struct {
		path   string
		hdr    []string
		status int
		field  string
	}{
		{"/v1/events", nil, 401, ""},
		{"/v1/events?queue=default", mailer, 403, "queue"},
		{"/v1/events?type=sms:send", mailer, 403, "type"},
		{"/v1/events?queue=", ops, 400, "queue"},
		{"/v1/events", append([]string{"Last-Event-ID", "yesterday"}, ops...), 400, "Last-Event-ID"},
	} {
		r := e.do(t, "GET", c.path, "", c.hdr...)
		if r.status != c.status || (c.field != "" && !strings.Contains(r.body, `"field":"`+c.field+`"`)) {
			t.Errorf("GET %s: %d %s, want %d naming %s", c.path, r.status, r.body, c.status, c.field)
		}
	}
}

// TestProgressInTaskDetail runs a processor that reports progress and
// reads it back from GET /v1/queues/{queue}/tasks/{id}, and as events.
func TestProgressInTaskDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: withHeartbeat})
	stream := e.openEvents(t, "/v1/events?type=ev:progress")
	reg := tasks.NewRegistry()
	reg.MustRegister("ev:progress", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		for i := range 1000 {
			tasks.Progress(ctx, float64(i)/10, "step "+fmt.Sprint(i))
		}
		tasks.Progress(ctx, 100, "done")
		return nil
	}))
	w, err := worker.New(worker.Options{Config: e.cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	r := e.do(t, "POST", "/v1/tasks", `{"type":"ev:progress","retention":"1h"}`)
	id := created(t, r).ID
	var kinds []string
	for {
		m := stream.next(t, waitLimit)
		kinds = append(kinds, m.ev.Kind)
		if m.ev.Kind == events.KindSucceeded {
			break
		}
		if m.ev.Kind == events.KindProgress && (m.ev.Percent < 0 || m.ev.Percent > 100) {
			t.Errorf("progress event %+v", m.ev)
		}
	}
	// At most a few writes for 1,001 reports, the last one among them.
	progress := strings.Count(strings.Join(kinds, " "), events.KindProgress)
	if progress < 1 || progress > 4 || kinds[len(kinds)-2] != events.KindProgress {
		t.Errorf("events %v: want 1 to 4 progress events, the last before succeeded", kinds)
	}
	var d httpapi.TaskDetail
	decodeStrict(t, e.do(t, "GET", "/v1/queues/default/tasks/"+id, "").body, &d)
	if d.Progress == nil || d.Progress.Percent != 100 || d.Progress.Message != "done" || d.Progress.Attempt != 1 {
		t.Errorf("progress %+v, want the last report", d.Progress)
	}
}

func urlQueryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D").Replace(s)
}

// TestEventsDeleteIsCancelled checks that deleting a task that has not
// run publishes task.cancelled after its task.enqueued.
func TestEventsDeleteIsCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: withHeartbeat})
	stream := e.openEvents(t, "/v1/events?task_id=doomed")
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","id":"doomed"}`))
	if r := e.do(t, "DELETE", "/v1/queues/default/tasks/doomed", ""); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if m := stream.next(t, waitLimit); m.ev.Kind != events.KindEnqueued {
		t.Fatalf("first event %+v", m.ev)
	}
	if m := stream.next(t, waitLimit); m.ev.Kind != events.KindCancelled || m.ev.Error != "deleted (pending)" || m.ev.TraceID == "" {
		t.Fatalf("second event %+v", m.ev)
	}
}
