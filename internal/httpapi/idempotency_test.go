package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
)

// TestIdempotencyConcurrentDuplicates sends the same request with the
// same Idempotency-Key from many clients at once: exactly one task is
// stored, and every client gets its answer.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const n = 40
	body := `{"type":"email:send","payload":{"to":"a@example.com"}}`
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = e.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "order-7")
		})
	}
	close(start)
	wg.Wait()
	replayed := 0
	for i, a := range answers {
		if a.status != http.StatusCreated || a.body != answers[0].body || a.header.Get("Location") != answers[0].header.Get("Location") {
			t.Errorf("answer %d: %d %s %v (first %s)", i, a.status, a.body, a.header, answers[0].body)
		}
		if a.header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d answers replayed, want %d", replayed, n-1)
	}
	if got := e.pending(t, "default"); got != 1 {
		t.Fatalf("%d tasks stored, want exactly 1", got)
	}
	tc := created(t, answers[0])
	if !strings.HasPrefix(tc.ID, "idem-") {
		t.Errorf("task ID %q is not derived from the key", tc.ID)
	}

	// The same key with another body is refused; another key stores anew;
	// the same key with another token (none here) is a separate key space.
	r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","payload":{"to":"b@example.com"}}`, "Idempotency-Key", "order-7")
	want := problemJSON("idempotency-key-reused", "The Idempotency-Key was used for a different request", 422,
		"this Idempotency-Key was used for a different request within its window; use a new key for a new request",
		fe("Idempotency-Key", "already used for a request with other content"))
	if r.status != 422 || r.body != want {
		t.Errorf("reused key: %d %s", r.status, r.body)
	}
	// White space does not make a request different.
	if r := e.do(t, "POST", "/v1/tasks", "{ \"type\": \"email:send\",\n \"payload\": {\"to\": \"a@example.com\"} }", "Idempotency-Key", "order-7"); r.body != answers[0].body {
		t.Errorf("reformatted body: %d %s", r.status, r.body)
	}
	// Nor does the order of the keys: the decoded request is
	// fingerprinted, not its bytes (this was 422).
	for _, reordered := range []string{
		`{"payload":{"to":"a@example.com"},"type":"email:send"}`,
		`{"type":"email:send","payload":{"to":"a@example.com"},"headers":{}}`,
	} {
		if r := e.do(t, "POST", "/v1/tasks", reordered, "Idempotency-Key", "order-7"); r.status != http.StatusCreated || r.body != answers[0].body {
			t.Errorf("reordered body %s: %d %s", reordered, r.status, r.body)
		}
	}
	// Options in another order are the same request too, and a changed
	// option is another.
	opts := `{"type":"email:send","queue":"low","delay":"1h","max_retry":3,"headers":{"a":"1","b":"2"}}`
	first := e.do(t, "POST", "/v1/tasks", opts, "Idempotency-Key", "order-9")
	again := e.do(t, "POST", "/v1/tasks", `{"headers":{"b":"2","a":"1"},"max_retry":3,"delay":"60m","queue":"low","type":"email:send"}`, "Idempotency-Key", "order-9")
	if first.status != http.StatusCreated || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("reordered options: %d %s, then %d %s", first.status, first.body, again.status, again.body)
	}
	if r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"low","delay":"1h","max_retry":4,"headers":{"a":"1","b":"2"}}`, "Idempotency-Key", "order-9"); r.status != 422 {
		t.Errorf("changed max_retry with the same key: %d %s; want 422", r.status, r.body)
	}
	created(t, e.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "order-8"))
	created(t, e.do(t, "POST", "/v1/tasks", body))
	if got := e.pending(t, "default"); got != 3 {
		t.Errorf("%d tasks stored, want 3", got)
	}
}

// TestIdempotencyLostAnswer: when the stored answer is lost (the server
// died between storing the task and the answer), a retry finds the task by
// its derived ID instead of storing a second one.
func TestIdempotencyLostAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := `{"type":"email:send","queue":"low"}`
	first := created(t, e.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "k1"))
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	keys, err := rdb.Keys(t.Context(), "tuskq:api:idempotency:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("idempotency records %v, %v", keys, err)
	}
	ttl := rdb.TTL(t.Context(), keys[0]).Val()
	if ttl <= 0 || ttl > e.cfg.API.IdempotencyTTL {
		t.Errorf("record TTL %s, want up to %s", ttl, e.cfg.API.IdempotencyTTL)
	}
	if err := rdb.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	again := created(t, e.do(t, "POST", "/v1/tasks", body, "Idempotency-Key", "k1"))
	// A pending task's process_at is the answer's clock (whole seconds):
	// on a loaded machine the two answers may fall in different seconds.
	sameTask := again
	sameTask.ProcessAt = first.ProcessAt
	t1, err1 := time.Parse(time.RFC3339, first.ProcessAt)
	t2, err2 := time.Parse(time.RFC3339, again.ProcessAt)
	if sameTask != first || err1 != nil || err2 != nil || t2.Sub(t1).Abs() > 2*time.Second {
		t.Errorf("retry answered %+v, want %+v", again, first)
	}
	if got := e.pending(t, "low"); got != 1 {
		t.Errorf("%d tasks stored, want 1", got)
	}
}

// TestIdempotencyBatch replays a batch answer and keeps keys apart per
// token and per endpoint.
func TestIdempotencyBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) { withTokens(c) }})
	body := `{"tasks":[{"type":"email:a","queue":"low"},{"type":"email:b","queue":"low","delay":"bad"}]}`
	auth := "Bearer " + tokenAll
	r1 := e.do(t, "POST", "/v1/tasks/batch", body, "Idempotency-Key", "b1", "Authorization", auth)
	r2 := e.do(t, "POST", "/v1/tasks/batch", body, "Idempotency-Key", "b1", "Authorization", auth)
	if r1.status != 200 || r2.status != 200 || r1.body != r2.body || r2.header.Get("Idempotent-Replayed") != "true" || r1.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("batch replay:\n%d %s\n%d %s", r1.status, r1.body, r2.status, r2.body)
	}
	var resp httpapi.BatchResponse
	decodeStrict(t, r1.body, &resp)
	if resp.Enqueued != 1 || !strings.HasSuffix(resp.Results[0].Task.ID, "-0") {
		t.Errorf("batch answer %s", r1.body)
	}
	// Keys in another order, inside the tasks and around them, are the
	// same batch.
	reordered := `{"tasks":[{"queue":"low","type":"email:a"},{"delay":"bad","queue":"low","type":"email:b"}]}`
	if r := e.do(t, "POST", "/v1/tasks/batch", reordered, "Idempotency-Key", "b1", "Authorization", auth); r.status != 200 || r.body != r1.body {
		t.Errorf("reordered batch: %d %s", r.status, r.body)
	}
	// The same key used by another token is another key.
	r3 := e.do(t, "POST", "/v1/tasks/batch", body, "Idempotency-Key", "b1", "Authorization", "Bearer "+tokenLimited)
	if r3.status != 200 || r3.header.Get("Idempotent-Replayed") != "" || r3.body == r1.body {
		t.Errorf("other token: %d %v %s", r3.status, r3.header, r3.body)
	}
	// The same key on the single endpoint is a different request.
	r4 := e.do(t, "POST", "/v1/tasks", `{"type":"email:a","queue":"low"}`, "Idempotency-Key", "b1", "Authorization", auth)
	if r4.status != 422 {
		t.Errorf("same key, other endpoint: %d %s", r4.status, r4.body)
	}
	if got := e.pending(t, "low"); got != 2 {
		t.Errorf("%d tasks stored, want 2", got)
	}
}
