package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestCreateThroughWorker enqueues a task over HTTP with the caller's
// trace, sees a real worker process it with that trace, and reads the
// completed task back.
func TestCreateThroughWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"to": "a@example.com", "n": [1, 2]},"headers":{"tenant":"acme"}}`,
		"traceparent", tp, "tracestate", "vendor=1")
	tc := created(t, r)
	if tc.Type != "email:send" || tc.Queue != "default" || tc.State != "pending" || tc.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || tc.ID == "" {
		t.Errorf("answer %+v", tc)
	}
	if got, want := r.header.Get("Location"), "/v1/queues/default/tasks/"+tc.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	s := e.nextTask(t)
	if s.typ != "email:send" || s.payload != `{"to":"a@example.com","n":[1,2]}` || s.traceID != tc.TraceID ||
		s.headers["tenant"] != "acme" || s.headers["tracestate"] != "vendor=1" || s.headers["traceparent"] != tp {
		t.Errorf("the worker saw %+v", s)
	}

	// A task with a retention can be read once completed, result included.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"result:json","retention":"1h"}`))
	e.waitState(t, "default", tc.ID, asynq.TaskStateCompleted)
	r = e.do(t, "GET", "/v1/queues/default/tasks/"+tc.ID, "")
	var d httpapi.TaskDetail
	decodeStrict(t, r.body, &d)
	if r.status != 200 || d.State != "completed" || string(d.Result) != `{"sent":true}` || d.Retention != "1h0m0s" ||
		d.CompletedAt == "" || d.TraceID != tc.TraceID || d.MaxRetry != 25 || d.Payload != nil || d.PayloadBase64 != "" {
		t.Errorf("GET completed task: %d %s", r.status, r.body)
	}

	// A failing task shows its retries and last error.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"fail:always","max_retry":1}`))
	e.waitState(t, "default", tc.ID, asynq.TaskStateRetry)
	r = e.do(t, "GET", "/v1/queues/default/tasks/"+tc.ID, "")
	d = httpapi.TaskDetail{}
	decodeStrict(t, r.body, &d)
	if d.State != "retry" || d.Retried != 1 || d.MaxRetry != 1 || d.LastError != "smtp: 550 mailbox unavailable" || d.LastFailedAt == "" || d.NextProcessAt == "" {
		t.Errorf("GET failed task: %s", r.body)
	}

	// Every request has one access log line; no token is configured.
	lines := e.logs.Records(t, "http request")
	if len(lines) != 5 {
		t.Fatalf("%d access log lines, want 5:\n%s", len(lines), e.logs)
	}
	first := lines[0]
	if first["method"] != "POST" || first["path"] != "/v1/tasks" || first["status"] != float64(201) ||
		first["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || first["level"] != "INFO" || first["token"] != nil {
		t.Errorf("access log line %v", first)
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms missing: %v", first)
	}
	// Without a caller's trace the log line carries the task's new trace.
	if lines[1]["trace_id"] == nil || lines[1]["trace_id"] == first["trace_id"] {
		t.Errorf("second line trace %v", lines[1]["trace_id"])
	}
}

// TestCreateOptions checks that each option reaches the stored task.
func TestCreateOptions(t *testing.T) {
	t.Parallel()
	three := 3
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.Routes = map[string]config.RouteConfig{
			"report:*": {Queue: "low", MaxRetry: &three, Timeout: 2 * time.Minute},
		}
	}})
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	deadline := at.Add(time.Hour)
	body := fmt.Sprintf(`{"type":"email:send","payload_base64":%q,"queue":"critical","at":%q,"max_retry":0,"timeout":"45s","deadline":%q,"id":"order-42","retention":"10m","headers":{"k":"v"}}`,
		base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), at.Format(time.RFC3339), deadline.Format(time.RFC3339))
	tc := created(t, e.do(t, "POST", "/v1/tasks", body))
	if tc.ID != "order-42" || tc.Queue != "critical" || tc.State != "scheduled" || tc.ProcessAt != at.Format(time.RFC3339) {
		t.Errorf("answer %+v", tc)
	}
	r := e.do(t, "GET", "/v1/queues/critical/tasks/order-42", "")
	var d httpapi.TaskDetail
	decodeStrict(t, r.body, &d)
	want := httpapi.TaskDetail{ID: "order-42", Type: "email:send", Queue: "critical", State: "scheduled", TraceID: tc.TraceID,
		PayloadBase64: "AAH/", Headers: map[string]string{"k": "v"}, MaxRetry: 0, Timeout: "45s",
		Deadline: deadline.Format(time.RFC3339), NextProcessAt: at.Format(time.RFC3339), Retention: "10m0s"}
	if fmt.Sprintf("%+v", d) != fmt.Sprintf("%+v", want) {
		t.Errorf("GET:\n%+v\nwant\n%+v", d, want)
	}

	// The same ID again is a conflict.
	r = e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"critical","id":"order-42"}`)
	if want := problemJSON("task-id-conflict", "The task ID is already used", 409,
		`task ID "order-42" is already used by a task in queue "critical"; leave id out to get a generated one`,
		fe("id", "already used in this queue")); r.status != 409 || r.body != want {
		t.Errorf("ID conflict: %d %s", r.status, r.body)
	}

	// unique: an equal task within the window is a duplicate.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"a":1},"unique":"1h","delay":"1m"}`))
	if tc.State != "scheduled" {
		t.Errorf("delay: state %s", tc.State)
	}
	r = e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"a":1},"unique":"1h"}`)
	if want := `{"type":"https://github.com/tuskq/tuskq/blob/main/docs/api.md#duplicate-task","title":"An equal task already exists","status":409,"detail":"an equal task (same type, queue and payload) holds the uniqueness lock: with unique_key, one of the same queue and key; until it ends (unique until_end, or unique_key alone) or for the unique duration"}` + "\n"; r.status != 409 || r.body != want {
		t.Errorf("duplicate: %d %s", r.status, r.body)
	}

	// An invalid traceparent header is ignored: the task starts a new trace.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send"}`, "traceparent", "00-zz-1"))
	if len(tc.TraceID) != 32 || strings.Trim(tc.TraceID, "0") == "" {
		t.Errorf("trace after an invalid traceparent: %q", tc.TraceID)
	}

	// A task without a queue follows its route: queue, retries, timeout.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"report:build"}`))
	info, err := e.insp.GetTaskInfo("low", tc.ID)
	if err != nil || tc.Queue != "low" || info.MaxRetry != 3 || info.Timeout != 2*time.Minute {
		t.Errorf("routed task: %+v %+v %v", tc, info, err)
	}
}

// TestBatchThroughWorker sends good and bad tasks in one batch: the good
// ones are stored and processed, each bad one is reported by index.
func TestBatchThroughWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	body := `{"tasks":[
		{"type":"email:send","payload":{"n":0}},
		{"type":"email:send","delay":"soon"},
		{"type":"demo:echo","payload":"x","traceparent":"00-11111111111111111111111111111111-2222222222222222-01"},
		"not an object",
		{"type":"email:send","queue":"nope"},
		{"type":"email:send","payload":{"n":5}}
	]}`
	r := e.do(t, "POST", "/v1/tasks/batch", body, "traceparent", tp)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var resp httpapi.BatchResponse
	decodeStrict(t, r.body, &resp)
	if resp.Enqueued != 3 || resp.Failed != 3 || len(resp.Results) != 6 {
		t.Fatalf("answer %s", r.body)
	}
	for i, res := range resp.Results {
		if res.Index != i {
			t.Errorf("result %d has index %d", i, res.Index)
		}
	}
	for _, i := range []int{0, 2, 5} {
		if res := resp.Results[i]; res.Status != 201 || res.Task == nil || res.Error != nil || res.Task.State != "pending" {
			t.Errorf("result %d: %+v", i, res)
		}
	}
	if resp.Results[0].Task.TraceID != "0af7651916cd43dd8448eb211c80319c" || resp.Results[2].Task.TraceID != "11111111111111111111111111111111" {
		t.Errorf("traces: %s %s", resp.Results[0].Task.TraceID, resp.Results[2].Task.TraceID)
	}
	wantErr := map[int]string{
		1: problemJSON("invalid-request", "The request is not valid", 400,
			`tasks[1].delay: "soon" is not a duration; use Go syntax such as 30s or 1h30m`,
			fe("tasks[1].delay", `"soon" is not a duration; use Go syntax such as 30s or 1h30m`)),
		3: problemJSON("invalid-request", "The request is not valid", 400,
			`tasks[3]: expected a JSON object such as {"type":"email:send","payload":{}}, got a string`,
			fe("tasks[3]", `expected a JSON object such as {"type":"email:send","payload":{}}, got a string`)),
		4: problemJSON("invalid-request", "The request is not valid", 400,
			`tasks[4].queue: unknown queue "nope"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)`,
			fe("tasks[4].queue", `unknown queue "nope"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)`)),
	}
	for i, want := range wantErr {
		res := resp.Results[i]
		got, _ := json.Marshal(res.Error)
		if res.Status != 400 || res.Task != nil || string(got)+"\n" != want {
			t.Errorf("result %d: status %d\n%s\nwant\n%s", i, res.Status, got, want)
		}
	}
	got := map[string]seen{}
	for range 3 {
		s := e.nextTask(t)
		got[s.payload] = s
	}
	if got[`{"n":0}`].traceID != "0af7651916cd43dd8448eb211c80319c" || got[`"x"`].traceID != "11111111111111111111111111111111" || got[`{"n":5}`].typ != "email:send" {
		t.Errorf("processed %+v", got)
	}
	if lines := e.logs.Records(t, "http request"); len(lines) != 1 || lines[0]["tasks"] != float64(3) || lines[0]["status"] != float64(200) {
		t.Errorf("access log %v", lines)
	}

	// A batch of bad tasks only is still answered task by task.
	r = e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":""},{}]}`)
	if r.status != 200 || !strings.HasPrefix(r.body, `{"enqueued":0,"failed":2,"results":[{"index":0,"status":400,`) {
		t.Errorf("all bad: %d %s", r.status, r.body)
	}
}

// TestQueuesOfRunningWorkers accepts a queue that no configuration names
// but a running worker serves.
func TestQueuesOfRunningWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true, workerQueues: map[string]int{"reports": 1}})
	deadline := time.Now().Add(waitLimit)
	for {
		// The worker's first heartbeat may come after the API's first look.
		r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"reports"}`)
		if r.status == 201 {
			break
		}
		if r.status != 400 || time.Now().After(deadline) {
			t.Fatalf("queue of a running worker: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	if s := e.nextTask(t); s.typ != "email:send" {
		t.Errorf("processed %+v", s)
	}
	r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"reprts"}`)
	if r.status != 400 || !strings.Contains(r.body, `unknown queue \"reprts\"; known queues: critical, default, low, reports (`) {
		t.Errorf("unknown queue: %d %s", r.status, r.body)
	}
}

// TestGetAndDelete reads and deletes waiting tasks, cancels a running one,
// and answers 404 for tasks that are gone.
func TestGetAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})

	tc := created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"a":1},"delay":"1h"}`))
	r := e.do(t, "GET", "/v1/queues/default/tasks/"+tc.ID, "")
	var d httpapi.TaskDetail
	decodeStrict(t, r.body, &d)
	if r.status != 200 || d.State != "scheduled" || string(d.Payload) != `{"a":1}` || d.ID != tc.ID {
		t.Errorf("GET scheduled: %d %s", r.status, r.body)
	}
	r = e.do(t, "DELETE", "/v1/queues/default/tasks/"+tc.ID, "")
	if want := fmt.Sprintf(`{"id":%q,"type":"email:send","queue":"default","outcome":"deleted","state":"scheduled"}`+"\n", tc.ID); r.status != 200 || r.body != want {
		t.Errorf("DELETE scheduled: %d %s", r.status, r.body)
	}
	notFound := func(id string) string {
		return problemJSON("not-found", "Not found", 404, fmt.Sprintf(
			"no task %q in queue %q: it never existed, was deleted, or completed without a retention", id, "default"))
	}
	for _, method := range []string{"GET", "DELETE"} {
		if r := e.do(t, method, "/v1/queues/default/tasks/"+tc.ID, ""); r.status != 404 || r.body != notFound(tc.ID) {
			t.Errorf("%s deleted task: %d %s", method, r.status, r.body)
		}
	}
	if r := e.do(t, "GET", "/v1/queues/nosuchqueue/tasks/x", ""); r.status != 404 {
		t.Errorf("unknown queue: %d %s", r.status, r.body)
	}

	// A running task is cancelled, then deleted.
	tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"slow:task"}`))
	select {
	case id := <-e.started:
		if id != tc.ID {
			t.Fatalf("started %s, want %s", id, tc.ID)
		}
	case <-time.After(waitLimit):
		t.Fatal("slow:task did not start")
	}
	e.waitState(t, "default", tc.ID, asynq.TaskStateActive)
	r = e.do(t, "DELETE", "/v1/queues/default/tasks/"+tc.ID, "")
	if want := fmt.Sprintf(`{"id":%q,"type":"slow:task","queue":"default","outcome":"cancelled","state":"active","final_state":"archived"}`+"\n", tc.ID); r.status != 200 || r.body != want {
		t.Errorf("DELETE active: %d %s", r.status, r.body)
	}
	// It ends archived with the error "cancelled", never retried.
	if r := e.do(t, "GET", "/v1/queues/default/tasks/"+tc.ID, ""); r.status != 200 ||
		!strings.Contains(r.body, `"state":"archived"`) || !strings.Contains(r.body, `"last_error":"cancelled"`) {
		t.Errorf("GET cancelled task: %d %s", r.status, r.body)
	}
}

// TestDeleteCancelsAtOnce: asynq's worker stops waiting for a cancelled
// attempt at once, even when the processor ignores its context, so the task
// is deleted without waiting for the processor.
func TestDeleteCancelsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	var once sync.Once
	release := func() { once.Do(func() { close(e.release) }) }
	t.Cleanup(release) // before the worker stops
	tc := created(t, e.do(t, "POST", "/v1/tasks", `{"type":"stubborn:task"}`))
	select {
	case <-e.started:
	case <-time.After(waitLimit):
		t.Fatal("stubborn:task did not start")
	}
	e.waitState(t, "default", tc.ID, asynq.TaskStateActive)
	r := e.do(t, "DELETE", "/v1/queues/default/tasks/"+tc.ID, "")
	if want := fmt.Sprintf(`{"id":%q,"type":"stubborn:task","queue":"default","outcome":"cancelled","state":"active","final_state":"archived"}`+"\n", tc.ID); r.status != 200 || r.body != want {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
}

// TestDeleteUnresponsiveWorker: a task that stays active after the
// cancellation (its worker is gone or hung) is 202.
func TestDeleteUnresponsiveWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: func(o *httpapi.Options) { o.CancelWait = 100 * time.Millisecond }})
	tc := created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send"}`))
	// Make the task active as a worker that then hangs would: asynq's keys,
	// as asynq's own dequeue script sets them.
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	ctx := t.Context()
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LRem(ctx, "asynq:{default}:pending", 0, tc.ID)
		p.LPush(ctx, "asynq:{default}:active", tc.ID)
		p.HSet(ctx, "asynq:{default}:t:"+tc.ID, "state", "active")
		p.ZAdd(ctx, "asynq:{default}:lease", redis.Z{Score: float64(time.Now().Add(time.Minute).Unix()), Member: tc.ID})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "DELETE", "/v1/queues/default/tasks/"+tc.ID, "")
	if want := fmt.Sprintf(`{"id":%q,"type":"email:send","queue":"default","outcome":"cancel_requested","state":"active"}`+"\n", tc.ID); r.status != 202 || r.body != want {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
}

// TestRedisDown answers 503 problems with Retry-After while Redis is down.
//
//nolint:tparallel // the "requests" group is serial on purpose: it returns once its parallel subtests are done, so the checks after it see their log lines
func TestRedisDown(t *testing.T) {
	t.Parallel()
	// The API reaches Redis through a gate: taken away, its port stays
	// refused, whatever parallel tests start.
	srv := redistest.Start(t)
	gate := redistest.NewGate(t, srv.Addr())
	e := newEnv(t, envOptions{redis: srv, configure: func(c *config.Config) { c.Redis.Addr = gate.Addr() }})
	if r := e.do(t, "GET", "/readyz", ""); r.status != 200 || r.body != "ok\n" {
		t.Errorf("/readyz: %d %q", r.status, r.body)
	}
	if err := gate.Down(); err != nil {
		t.Fatal(err)
	}
	unavailable := problemJSON("redis-unavailable", "Redis is unavailable", 503,
		"Redis does not answer; retry later, with the same Idempotency-Key if the request had one")
	// An enqueue tries to reach Redis until its deadline (enqueue.timeout,
	// 2s), then answers that nothing was stored.
	timedOut := problemJSON("enqueue-timeout", "Redis did not answer the enqueue in time", 503,
		`Redis did not answer within 2s (enqueue.timeout) and the task (id "down-1") was not stored; `+
			`retry, with the same Idempotency-Key or id, and it cannot be stored twice`)
	batchTimedOut := problemJSON("enqueue-timeout", "Redis did not answer the enqueue in time", 503,
		`Redis did not answer within 2s (enqueue.timeout) and its tasks may or may not have been stored; `+
			`retry, with the same Idempotency-Key or ids, and no task can be stored twice`)
	// Each request takes go-redis's dial retries (about 1.7 s) or the
	// enqueue timeout: run them side by side.
	reqs := []struct{ method, path, body, want string }{
		{"POST", "/v1/tasks", `{"type":"email:send","id":"down-1"}`, timedOut},
		{"POST", "/v1/tasks/batch", `{"tasks":[{"type":"email:send"},{"type":"email:send","delay":"x"}]}`, batchTimedOut},
		{"GET", "/v1/queues/default/tasks/abc", "", unavailable},
		{"DELETE", "/v1/queues/default/tasks/abc", "", unavailable},
		{"POST", "/v1/tasks", `{"type":"email:send","queue":"elsewhere"}`, unavailable},
	}
	t.Run("requests", func(t *testing.T) {
		for _, req := range reqs {
			t.Run(req.method+req.path, func(t *testing.T) {
				t.Parallel()
				r := e.do(t, req.method, req.path, req.body)
				if r.status != 503 || r.body != req.want || r.header.Get("Retry-After") != "1" || r.header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("%s %s: %d %v %s", req.method, req.path, r.status, r.header, r.body)
				}
			})
		}
		t.Run("readyz", func(t *testing.T) {
			t.Parallel()
			if r := e.do(t, "GET", "/readyz", ""); r.status != 503 || r.body != "redis unreachable\n" {
				t.Errorf("/readyz: %d %q", r.status, r.body)
			}
		})
	})
	if r := e.do(t, "GET", "/healthz", ""); r.status != 200 || r.body != "ok\n" {
		t.Errorf("/healthz: %d %q", r.status, r.body)
	}
	warn := 0
	for _, rec := range e.logs.Records(t, "") {
		if rec["msg"] == "redis unavailable" && rec["level"] == "WARN" {
			warn++
		}
	}
	if warn == 0 {
		t.Errorf("no warning logged:\n%s", e.logs)
	}
}

// TestSchemaValidator rejects a payload the validator refuses, before
// anything is stored.
func TestSchemaValidator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{options: func(o *httpapi.Options) { o.SchemaValidator = toValidator{} }})
	r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"to":5}}`)
	want := problemJSON("invalid-request", "The request is not valid", 400,
		"payload: at /to: got number, want string", fe("payload", "at /to: got number, want string"))
	if r.status != 400 || r.body != want {
		t.Errorf("%d %s", r.status, r.body)
	}
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"to":"a@example.com"}}`))
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"other:type","payload":{"to":5}}`))
	if n := e.pending(t, "default"); n != 2 {
		t.Errorf("%d tasks stored, want 2", n)
	}
}

// toValidator wants a string "to" in email:send payloads.
type toValidator struct{}

func (toValidator) ValidatePayload(_ context.Context, taskType string, payload []byte) error {
	if taskType != "email:send" {
		return nil
	}
	var p struct{ To any }
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	if _, ok := p.To.(string); !ok {
		return errors.New("at /to: got number, want string")
	}
	return nil
}

// TestRunRefusesInsecureListen refuses a non-loopback address without
// tokens with one line.
func TestRunRefusesInsecureListen(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.API.Listen = "0.0.0.0:8090"
	err := httpapi.Run(t.Context(), httpapi.Options{Config: cfg})
	want := "enqueue serve: refusing to listen on 0.0.0.0:8090 without authentication: anyone who can reach it could enqueue and delete tasks; add api.tokens, or listen on loopback (--listen 127.0.0.1:8090)"
	if !errors.Is(err, httpapi.ErrInsecureListen) || err.Error() != want || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v", err)
	}
	cfg.API.Tokens = []config.APIToken{{Name: "short", Token: "tooshort"}}
	_, err = httpapi.New(httpapi.Options{Config: cfg})
	want = `invalid API options: api.tokens[0].token (name "short") has 8 characters; use at least 16 random ones, such as the output of openssl rand -hex 24`
	if !errors.Is(err, httpapi.ErrBadOptions) || err == nil || err.Error() != want {
		t.Errorf("short token: %v", err)
	}
}
