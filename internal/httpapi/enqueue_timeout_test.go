package httpapi_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestEnqueueTimeoutDuringFreeze enqueues a task and a batch while Redis
// is frozen: each answers a 503 enqueue-timeout problem at the 2s deadline
// of enqueue.timeout, saying the task may have been stored (the command
// reached Redis, which did not answer); in fact it was not, even once
// Redis has run the command late; and the same request again stores it,
// once.
// enqueueSlack is how late an answer may come after the 2 s enqueue
// timeout on a loaded machine (-race, 2 cores). Redis is frozen until the
// test thaws it, so without the timeout there would be no answer at all;
// the body says which timeout it was.
const enqueueSlack = 5 * time.Second

func TestEnqueueTimeoutDuringFreeze(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{}}`)) // loads the script
	calls := redistest.CommandCalls(t, rdb, "evalsha")

	thaw := e.redis.FreezeUntil(t)
	const body = `{"type":"email:send","id":"frozen-1","payload":{}}`
	start := time.Now()
	r := e.do(t, "POST", "/v1/tasks", body)
	took := time.Since(start)
	want := problemJSON("enqueue-timeout", "Redis did not answer the enqueue in time", 503,
		`Redis did not answer within 2s (enqueue.timeout) and the task (id "frozen-1") may have been stored; `+
			`retry, with the same Idempotency-Key or id, and it cannot be stored twice`)
	if r.status != 503 || r.body != want || r.header.Get("Retry-After") != "1" {
		t.Errorf("enqueue during a freeze: %d %v\n%s\nwant %s", r.status, r.header, r.body, want)
	}
	if took > 2*time.Second+enqueueSlack {
		t.Errorf("enqueue during a freeze answered after %s; want about 2s", took)
	}
	start = time.Now()
	r = e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"email:send","id":"b-1"},{"type":"email:send","id":"b-2"}]}`)
	took = time.Since(start)
	want = problemJSON("enqueue-timeout", "Redis did not answer the enqueue in time", 503,
		`Redis did not answer within 2s (enqueue.timeout) and its tasks may or may not have been stored; `+
			`retry, with the same Idempotency-Key or ids, and no task can be stored twice`)
	if r.status != 503 || r.body != want {
		t.Errorf("batch during a freeze: %d\n%s\nwant %s", r.status, r.body, want)
	}
	if took > 2*time.Second+enqueueSlack {
		t.Errorf("batch during a freeze answered after %s; want about 2s", took)
	}
	thaw()

	// Redis runs the single enqueue it received during the freeze, late:
	// it stores nothing.
	end := time.Now().Add(waitLimit)
	for redistest.CommandCalls(t, rdb, "evalsha") < calls+1 {
		if time.Now().After(end) {
			t.Fatal("Redis never ran the enqueue sent during the freeze")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	if n := rdb.Exists(t.Context(), "asynq:{default}:t:frozen-1").Val(); n != 0 {
		t.Fatal("the timed-out task was stored after all (a phantom)")
	}
	if tc := created(t, e.do(t, "POST", "/v1/tasks", body)); tc.ID != "frozen-1" {
		t.Fatalf("retry stored task %q; want frozen-1", tc.ID)
	}
	if r := e.do(t, "POST", "/v1/tasks", body); r.status != http.StatusConflict {
		t.Fatalf("a second retry: %d %s; want 409 task-id-conflict", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"email:send","id":"b-1"},{"type":"email:send","id":"b-2"}]}`); r.status != 200 {
		t.Fatalf("batch retry: %d %s", r.status, r.body)
	}
	if got := e.pending(t, "default"); got != 4 {
		t.Fatalf("%d tasks stored; want 4 (one before the freeze, three retried)", got)
	}
}

// TestEnqueueTimeoutIdempotencyRetry: after an enqueue-timeout problem the
// Idempotency-Key is free, and the retry with it (here through a second
// API on the same Redis, whose enqueues have time) stores the task once,
// under the ID derived from the key; further retries replay that answer.
func TestEnqueueTimeoutIdempotencyRetry(t *testing.T) {
	t.Parallel()
	// An enqueue.timeout of 1ns ends every enqueue before it is sent.
	hasty := newEnv(t, envOptions{configure: func(c *config.Config) { c.Enqueue.Timeout = time.Nanosecond }})
	patient := newEnv(t, envOptions{redis: hasty.redis})
	const body = `{"type":"email:send","payload":{"order":7}}`
	r := hasty.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "order-7")
	if r.status != 503 || regexp.MustCompile(`"type":"[^"]*#enqueue-timeout".*was not stored`).FindString(r.body) == "" {
		t.Fatalf("enqueue with no time: %d %s; want a 503 enqueue-timeout problem", r.status, r.body)
	}
	if got := patient.pending(t, "default"); got != 0 {
		t.Fatalf("%d tasks stored by a timed-out enqueue; want none", got)
	}
	first := patient.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "order-7")
	tc := created(t, first)
	if first.header.Get("Idempotent-Replayed") != "" || tc.ID[:5] != "idem-" {
		t.Fatalf("retry after the 503: replayed %q, id %q; want a fresh answer with a key-derived ID", first.header.Get("Idempotent-Replayed"), tc.ID)
	}
	again := patient.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "order-7")
	if again.status != 201 || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("second retry: %d %s %v; want the first answer replayed", again.status, again.body, again.header)
	}
	if got := patient.pending(t, "default"); got != 1 {
		t.Fatalf("%d tasks stored; want exactly 1", got)
	}
}

// TestNotReplicated: with enqueue.wait_replicas 1 on a Redis without
// replicas, an enqueue stores the task and answers 503 not-replicated,
// naming it; the same request again finds it (task-id-conflict) and stores
// nothing more.
func TestNotReplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.Enqueue.WaitReplicas = 1
		c.Enqueue.Timeout = time.Second
	}})
	const body = `{"type":"email:send","id":"rep-1","payload":{}}`
	r := e.do(t, "POST", "/v1/tasks", body)
	want := problemJSON("not-replicated", "The task is stored but not yet on enough replicas", 503,
		`the task (id "rep-1") is stored, but fewer replicas than enqueue.wait_replicas confirmed it within 1s, `+
			`so a failover could lose it; retry, with the same Idempotency-Key or id, and it cannot be stored twice`)
	if r.status != 503 || r.body != want || r.header.Get("Retry-After") != "1" {
		t.Fatalf("enqueue without replicas: %d %v\n%s\nwant %s", r.status, r.header, r.body, want)
	}
	if got := e.pending(t, "default"); got != 1 {
		t.Fatalf("%d tasks stored; want the 1 the master took", got)
	}
	if r := e.do(t, "POST", "/v1/tasks", body); r.status != 409 {
		t.Fatalf("the same request again: %d %s; want 409 task-id-conflict", r.status, r.body)
	}
	if got := e.pending(t, "default"); got != 1 {
		t.Fatalf("%d tasks stored after the retry; want still 1", got)
	}
}
