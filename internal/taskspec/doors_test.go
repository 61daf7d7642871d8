package taskspec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// doorCase is one task given to every door that can express it.
type doorCase struct {
	name  string
	field string
	// typ is the task type; flags the option flags of the CLI.
	typ   string
	flags []string
	// fields are the JSON fields of the line and the body, besides type.
	fields string
	// route is the same defaults as a route of the config; nil when a
	// route cannot express the case.
	route *config.RouteConfig
	// opts are the same options for tasks.Client; nil when it cannot
	// express the case (it knows no worker queues).
	opts *tasks.EnqueueOptions
	// detail is the problem every door reports ("" when every door
	// accepts); expected its "expected" clause, which the config shows.
	detail, expected string
}

func intp(n int) *int { return &n }

func doorCases() []doorCase {
	farAt := time.Now().Add(2 * 365 * 24 * time.Hour).UTC().Truncate(time.Second)
	farAtS := farAt.Format(time.RFC3339)
	const (
		retryExp  = "a whole number from 0 to 2147483647"
		timeoutEx = "a whole number of seconds from 1s to 24h0m0s (24h)"
		uniqueEx  = "a whole number of seconds from 1s to 720h0m0s (30 days)"
		queueEx   = "a queue name of printable UTF-8 without spaces, control characters or braces"
	)
	return []doorCase{
		{name: "max_retry wraps to 0 in 32 bits", field: "max_retry", typ: "a:b",
			flags: []string{"--max-retry", "4294967296"}, fields: `"max_retry":4294967296`,
			route: &config.RouteConfig{MaxRetry: intp(4294967296)}, opts: &tasks.EnqueueOptions{MaxRetry: intp(4294967296)},
			detail: "4294967296 is more than 2147483647 (asynq stores 32 bits); expected " + retryExp, expected: retryExp},
		{name: "max_retry wraps to -1 in 32 bits", field: "max_retry", typ: "a:b",
			flags: []string{"--max-retry", "4294967295"}, fields: `"max_retry":4294967295`,
			route: &config.RouteConfig{MaxRetry: intp(4294967295)}, opts: &tasks.EnqueueOptions{MaxRetry: intp(4294967295)},
			detail: "4294967295 is more than 2147483647 (asynq stores 32 bits); expected " + retryExp, expected: retryExp},
		{name: "negative max_retry", field: "max_retry", typ: "a:b",
			flags: []string{"--max-retry", "-1"}, fields: `"max_retry":-1`,
			route: &config.RouteConfig{MaxRetry: intp(-1)}, opts: &tasks.EnqueueOptions{MaxRetry: intp(-1)},
			detail: "-1 is negative; expected " + retryExp, expected: retryExp},
		{name: "largest max_retry", field: "max_retry", typ: "a:b",
			flags: []string{"--max-retry", "2147483647", "--timeout", "24h"}, fields: `"max_retry":2147483647,"timeout":"24h"`,
			route: &config.RouteConfig{MaxRetry: intp(2147483647), Timeout: 24 * time.Hour}, opts: &tasks.EnqueueOptions{MaxRetry: intp(2147483647), Timeout: 24 * time.Hour}},
		{name: "timeout over a day", field: "timeout", typ: "a:b",
			flags: []string{"--timeout", "25h"}, fields: `"timeout":"25h"`,
			route: &config.RouteConfig{Timeout: 25 * time.Hour}, opts: &tasks.EnqueueOptions{Timeout: 25 * time.Hour},
			detail: "25h0m0s is more than 24h0m0s; expected " + timeoutEx, expected: timeoutEx},
		{name: "timeout not whole seconds", field: "timeout", typ: "a:b",
			flags: []string{"--timeout", "1500ms"}, fields: `"timeout":"1500ms"`,
			route: &config.RouteConfig{Timeout: 1500 * time.Millisecond}, opts: &tasks.EnqueueOptions{Timeout: 1500 * time.Millisecond},
			detail: "1.5s is not a whole number of seconds (asynq stores seconds; 2s is); expected " + timeoutEx, expected: timeoutEx},
		{name: "unique over 30 days", field: "unique", typ: "a:b",
			flags: []string{"--unique", "744h"}, fields: `"unique":"744h"`,
			route: &config.RouteConfig{UniqueTTL: 744 * time.Hour}, opts: &tasks.EnqueueOptions{UniqueTTL: 744 * time.Hour},
			detail: "744h0m0s is more than 720h0m0s; expected " + uniqueEx, expected: uniqueEx},
		{name: "retention over 30 days", field: "retention", typ: "a:b",
			flags: []string{"--retention", "1000h"}, fields: `"retention":"1000h"`,
			opts:   &tasks.EnqueueOptions{Retention: 1000 * time.Hour},
			detail: "1000h0m0s is more than 720h0m0s; expected " + uniqueEx},
		{name: "delay over a year", field: "delay", typ: "a:b",
			flags: []string{"--delay", "9000h"}, fields: `"delay":"9000h"`,
			opts:   &tasks.EnqueueOptions{ProcessIn: 9000 * time.Hour},
			detail: "9000h0m0s is more than 8760h0m0s; expected a delay from 0s to 8760h0m0s (1 year)"},
		{name: "at over a year ahead", field: "at", typ: "a:b",
			flags: []string{"--at", farAtS}, fields: `"at":"` + farAtS + `"`,
			opts:   &tasks.EnqueueOptions{ProcessAt: farAt},
			detail: farAtS + " is more than 1 year ahead; expected a time no later than 1 year from now"},
		{name: "queue with a space", field: "queue", typ: "a:b",
			flags: []string{"--queue", "a b"}, fields: `"queue":"a b"`,
			route: &config.RouteConfig{Queue: "a b"}, opts: &tasks.EnqueueOptions{Queue: "a b"},
			detail: `"a b" is not a queue name; expected ` + queueEx, expected: queueEx},
		{name: "unknown queue", field: "queue", typ: "a:b",
			flags: []string{"--queue", "critcal"}, fields: `"queue":"critcal"`,
			detail: `unknown queue "critcal"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)`},
		{name: "type not UTF-8", field: "type", typ: "email:\xff",
			opts:   &tasks.EnqueueOptions{},
			detail: "is not valid UTF-8; send UTF-8 text"},
		{name: "unique_key too long", field: "unique_key", typ: "a:b",
			flags: []string{"--unique-key", strings.Repeat("k", 201)}, fields: `"unique_key":"` + strings.Repeat("k", 201) + `"`,
			opts:   &tasks.EnqueueOptions{UniqueKey: strings.Repeat("k", 201)},
			detail: "the unique key is 201 bytes long; the limit is 200"},
		{name: "id too long", field: "id", typ: "a:b",
			flags: []string{"--id", strings.Repeat("x", 201)}, fields: `"id":"` + strings.Repeat("x", 201) + `"`,
			opts:   &tasks.EnqueueOptions{TaskID: strings.Repeat("x", 201)},
			detail: "the task ID is 201 bytes long; the limit is 200"},
	}
}

// TestEveryDoor feeds the same task to every door (CLI flags, a --batch
// JSON line, an HTTP body, a route of the config, tasks.Client options)
// and expects the same verdict and the same words naming the field.
func TestEveryDoor(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	api, err := httpapi.New(httpapi.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })

	for _, tc := range doorCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The type as it is, byte for byte (json.Marshal would replace
			// bytes that are not UTF-8).
			obj := `{"type":"` + tc.typ + `"`
			if tc.fields != "" {
				obj += "," + tc.fields
			}
			obj += "}"
			doorCLI(t, srv.Addr(), tc)
			doorLine(t, srv.Addr(), obj, tc)
			doorHTTP(t, api, obj, tc)
			if tc.route != nil {
				doorRoute(t, tc)
			}
			if tc.opts != nil {
				doorClient(t, client, tc)
			}
		})
	}
}

func runCLI(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := enqueuecli.Run(t.Context(), args, enqueuecli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Environ: []string{}})
	return code, errb.String()
}

func doorCLI(t *testing.T, addr string, tc doorCase) {
	t.Helper()
	args := append([]string{"--redis-addr", addr}, tc.flags...)
	code, stderr := runCLI(t, "", append(args, "--", tc.typ)...)
	want := "enqueue: " + taskspec.FlagName(tc.field) + ": " + tc.detail + "\n"
	switch {
	case tc.detail == "" && code != 0:
		t.Errorf("CLI flags: exit %d, %s; want it enqueued", code, stderr)
	case tc.detail != "" && (code != 2 || !strings.HasPrefix(stderr, want)):
		t.Errorf("CLI flags: exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
}

func doorLine(t *testing.T, addr, obj string, tc doorCase) {
	t.Helper()
	code, stderr := runCLI(t, obj+"\n", "--redis-addr", addr, "--batch")
	want := "line 1: " + tc.field + ": " + tc.detail + "\n"
	switch {
	case tc.detail == "" && code != 0:
		t.Errorf("JSON line: exit %d, %s; want it enqueued", code, stderr)
	case tc.detail != "" && (code != 2 || !strings.HasPrefix(stderr, want)):
		t.Errorf("JSON line %s: exit %d, stderr %q; want 2, %q", obj, code, stderr, want)
	}
}

func doorHTTP(t *testing.T, api http.Handler, obj string, tc doorCase) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/v1/tasks", strings.NewReader(obj))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if tc.detail == "" {
		if rec.Code != http.StatusCreated {
			t.Errorf("HTTP body: %d %s; want 201", rec.Code, rec.Body)
		}
		return
	}
	var p httpapi.Problem
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	want := httpapi.FieldError{Field: tc.field, Detail: tc.detail}
	if rec.Code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0] != want {
		t.Errorf("HTTP body %s: %d %s; want 400 with %+v", obj, rec.Code, rec.Body, want)
	}
}

func doorRoute(t *testing.T, tc doorCase) {
	t.Helper()
	cfg := config.Default()
	cfg.Routes = map[string]config.RouteConfig{"a:*": *tc.route}
	err := cfg.Validate()
	key := "routes.a:*." + taskspec.RouteKeys[tc.field] + ": "
	switch {
	case tc.detail == "" && err != nil:
		t.Errorf("route: %v; want it valid", err)
	case tc.detail != "" && (err == nil || !strings.Contains(err.Error(), key) || !strings.HasSuffix(err.Error(), "expected "+tc.expected)):
		t.Errorf("route: %v; want %s… expected %s", err, key, tc.expected)
	}
	// tasks.Client's routes get the same checks.
	rt := tasks.Route{Pattern: "a:*", Queue: tc.route.Queue, MaxRetry: tc.route.MaxRetry, Timeout: tc.route.Timeout, UniqueTTL: tc.route.UniqueTTL}
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, tasks.ClientOptions{Routes: []tasks.Route{rt}})
	if err == nil {
		_ = c.Close()
	}
	want := taskspec.GoName(tc.field) + ": " + tc.detail
	switch {
	case tc.detail == "" && err != nil:
		t.Errorf("tasks.Route: %v; want it valid", err)
	case tc.detail != "" && (!errors.Is(err, tasks.ErrBadOptions) || !strings.HasSuffix(err.Error(), want)):
		t.Errorf("tasks.Route: %v; want ErrBadOptions ending %q", err, want)
	}
}

func doorClient(t *testing.T, client *tasks.Client, tc doorCase) {
	t.Helper()
	opts := *tc.opts
	_, err := client.Enqueue(t.Context(), tc.typ, nil, &opts)
	want := taskspec.GoName(tc.field) + ": " + tc.detail
	if tc.field == taskspec.FieldType {
		want = tc.detail
	}
	switch {
	case tc.detail == "" && err != nil:
		t.Errorf("tasks.Client: %v; want it enqueued", err)
	case tc.detail != "" && (!errors.Is(err, tasks.ErrBadOptions) || !strings.HasSuffix(err.Error(), want)):
		t.Errorf("tasks.Client: %v; want ErrBadOptions ending %q", err, want)
	}
}
