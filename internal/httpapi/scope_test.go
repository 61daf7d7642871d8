package httpapi_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
)

// TestScopedTokenCannotProbe: with two tokens, a task outside the scoped
// token's queues or task types is answered exactly as a missing task (GET
// and DELETE), and a POST naming the ID of a task in a queue the token may
// not use gets the same answer whether that task exists or not.
func TestScopedTokenCannotProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: withTokens})
	ops := []string{"Authorization", "Bearer " + tokenAll}
	mailer := []string{"Authorization", "Bearer " + tokenLimited}
	// ops stores a task of a type the mailer may not use in its queue, and
	// one of its type in a queue it may not use.
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"sms:send","queue":"low","id":"probe-type"}`, ops...))
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"default","id":"probe-queue"}`, ops...))

	same := func(what string, exists, missing response, existsID, missingID string) {
		t.Helper()
		if exists.status != missing.status || strings.ReplaceAll(exists.body, existsID, "ID") != strings.ReplaceAll(missing.body, missingID, "ID") {
			t.Errorf("%s: an existing task answers\n%d %s\na missing one\n%d %s", what, exists.status, exists.body, missing.status, missing.body)
		}
		for _, leak := range []string{"sms", "forbidden", "scope"} {
			if missing.status == 404 && strings.Contains(exists.body, leak) {
				t.Errorf("%s: the answer says %q: %s", what, leak, exists.body)
			}
		}
	}
	for _, m := range []string{"GET", "DELETE"} {
		same(m+" of a task of another type",
			e.do(t, m, "/v1/queues/low/tasks/probe-type", "", mailer...),
			e.do(t, m, "/v1/queues/low/tasks/no-such-task", "", mailer...), "probe-type", "no-such-task")
		same(m+" of a task in another queue",
			e.do(t, m, "/v1/queues/default/tasks/probe-queue", "", mailer...),
			e.do(t, m, "/v1/queues/default/tasks/no-such-task", "", mailer...), "probe-queue", "no-such-task")
	}
	if r := e.do(t, "GET", "/v1/queues/low/tasks/probe-type", "", mailer...); r.status != 404 {
		t.Errorf("GET of a task of another type: %d, want 404 as for a missing task", r.status)
	}
	// The DELETEs reached neither task.
	for _, path := range []string{"/v1/queues/low/tasks/probe-type", "/v1/queues/default/tasks/probe-queue"} {
		if r := e.do(t, "GET", path, "", ops...); r.status != 200 {
			t.Errorf("GET %s with the full token after the scoped DELETE: %d %s", path, r.status, r.body)
		}
	}
	// POST with an ID that exists in a queue the token may not use.
	same("POST with the ID of a task in another queue",
		e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"default","id":"probe-queue"}`, mailer...),
		e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"default","id":"no-such-task"}`, mailer...), "probe-queue", "no-such-task")
	// In its own queue IDs are unique whoever stored the task: the
	// conflict with a task of another type is the same as with one of its
	// own, and names neither type.
	created(t, e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"low","id":"own-task"}`, mailer...))
	same("POST with the ID of a task of another type",
		e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"low","id":"probe-type"}`, mailer...),
		e.do(t, "POST", "/v1/tasks", `{"type":"email:send","queue":"low","id":"own-task"}`, mailer...), "probe-type", "own-task")
}

// TestFailedTokenLimit: a client address that sends burst wrong tokens is
// answered 429 with Retry-After (even with a valid token) until it
// regains an attempt; failures are counted in /metrics and logged at warn
// without the token.
func TestFailedTokenLimit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, envOptions{
		configure: func(c *config.Config) { c.API.Tokens = []config.APIToken{{Name: "ops", Token: tokenAll}} },
		options: func(o *httpapi.Options) {
			o.FailedTokenBurst, o.FailedTokenRefill, o.Now = 3, 10*time.Second, clock
		},
	})
	good := []string{"Authorization", "Bearer " + tokenAll}
	const wrong = "wrong-0123456789abcdef"
	if r := e.do(t, "GET", "/v1/queues/default/tasks/x", ""); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	for i := range 3 {
		hdr := []string{"Authorization", "Bearer " + wrong}
		if i == 1 {
			hdr = []string{"Authorization", "Basic b3BzOnB3"}
		}
		if r := e.do(t, "GET", "/v1/queues/default/tasks/x", "", hdr...); r.status != 401 {
			t.Fatalf("wrong token %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do(t, "GET", "/v1/queues/default/tasks/x", "", good...)
	want := problemJSON("too-many-failed-tokens", "Too many requests with a wrong token", 429,
		"too many requests with a wrong token from 127.0.0.1; retry in 10s with a token of api.tokens")
	if r.status != 429 || r.body != want || r.header.Get("Retry-After") != "10" {
		t.Fatalf("valid token while limited: %d Retry-After %q %s\nwant 429 Retry-After 10 %s", r.status, r.header.Get("Retry-After"), r.body, want)
	}
	advance(10 * time.Second)
	if r := e.do(t, "GET", "/v1/queues/default/tasks/x", "", good...); r.status != 404 {
		t.Fatalf("valid token after a refill: %d %s", r.status, r.body)
	}
	m := e.do(t, "GET", "/metrics", "", good...)
	for _, line := range []string{
		`tuskq_api_failed_tokens_total{reason="invalid_token"} 2`,
		`tuskq_api_failed_tokens_total{reason="invalid_request"} 1`,
		`tuskq_api_token_rate_limited_total 1`,
	} {
		if m.status != 200 || !strings.Contains(m.body, line+"\n") {
			t.Errorf("/metrics lacks %q: %d\n%s", line, m.status, m.body)
		}
	}
	if r := e.do(t, "GET", "/metrics", ""); r.status != 401 {
		t.Errorf("/metrics without a token: %d", r.status)
	}
	recs := e.logs.Records(t, "api token refused")
	if len(recs) != 3 {
		t.Fatalf("%d 'api token refused' lines, want 3:\n%s", len(recs), e.logs.String())
	}
	for _, rec := range recs {
		if rec["level"] != "WARN" || rec["client"] != "127.0.0.1" || rec["path"] != "/v1/queues/default/tasks/x" {
			t.Errorf("log line %v", rec)
		}
	}
	if len(e.logs.Records(t, "api failed-token limit reached; answering 429 until the client regains attempts")) != 1 {
		t.Errorf("the limit reached is not logged once:\n%s", e.logs.String())
	}
	if logs := e.logs.String(); strings.Contains(logs, wrong) || strings.Contains(logs, tokenAll) {
		t.Errorf("a token was logged:\n%s", logs)
	}
}
