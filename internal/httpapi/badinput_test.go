package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
)

const invalidTitle = "The request is not valid"

// bad400 is the body of a 400 problem with errs.
func bad400(errs ...httpapi.FieldError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Detail
	}
	return problemJSON("invalid-request", invalidTitle, 400, strings.Join(parts, "; "), errs...)
}

// TestBadInput checks the exact status and body of every kind of bad
// request; none stores a task.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.API.MaxBodyBytes = 2048
		c.API.MaxBatch = 3
	}})
	const fields = "type, payload, payload_base64, queue, delay, at, max_retry, timeout, deadline, unique, unique_key, id, retention, headers, traceparent"
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string
	}{
		{"invalid JSON", "POST", "/v1/tasks", `{"type":"email:send",}`, nil, 400,
			bad400(fe("body", "invalid JSON at byte 22: invalid character '}' looking for beginning of object key string"))},
		{"truncated JSON", "POST", "/v1/tasks", `{"type":"email:send"`, nil, 400,
			bad400(fe("body", "invalid JSON: the input ends before the JSON value is complete"))},
		{"not an object", "POST", "/v1/tasks", `["email:send"]`, nil, 400,
			bad400(fe("body", `expected a JSON object such as {"type":"email:send","payload":{}}, got an array`))},
		{"empty body", "POST", "/v1/tasks", ` `, nil, 400,
			bad400(fe("body", `empty; send a JSON object such as {"type":"email:send","payload":{}}`))},
		{"unknown fields", "POST", "/v1/tasks", `{"type":"email:send","paylod":{},"priority":5}`, nil, 400,
			bad400(fe("paylod", `unknown field (did you mean "payload"?)`), fe("priority", "unknown field; the fields are "+fields))},
		{"duplicate field", "POST", "/v1/tasks", `{"type":"email:send","type":"sms:send"}`, nil, 400,
			bad400(fe("type", "appears twice; give each field once"))},
		{"wrong types", "POST", "/v1/tasks", `{"type":5,"queue":["a"],"max_retry":"3","delay":30,"headers":{"a":1},"payload_base64":true}`, nil, 400,
			bad400(fe("type", "expected a string, got a number"), fe("payload_base64", "expected a string, got a boolean"),
				fe("queue", "expected a string, got an array"), fe("delay", "expected a string, got a number"),
				fe("max_retry", "expected a whole number, got a string"), fe("headers.a", "expected a string, got a number"))},
		{"missing type", "POST", "/v1/tasks", `{"payload":{}}`, nil, 400,
			bad400(fe("type", `missing; every task needs a type such as "email:send"`))},
		{"invalid type", "POST", "/v1/tasks", `{"type":"email send"}`, nil, 400,
			bad400(fe("type", `"email send" contains ' '; use letters, digits and punctuation other than '*'`))},
		{"invalid durations", "POST", "/v1/tasks", `{"type":"a:b","delay":"-1s","timeout":"1500ms","unique":"forever","retention":"0s"}`, nil, 400,
			bad400(fe("delay", `-1s is negative; expected a delay from 0s to 8760h0m0s (1 year)`),
				fe("timeout", `1.5s is not a whole number of seconds (asynq stores seconds; 2s is); expected a whole number of seconds from 1s to 24h0m0s (24h)`),
				fe("unique", `"forever" is not a duration; use Go syntax such as 30s or 1h30m`),
				fe("retention", `0s is less than 1s; expected a whole number of seconds from 1s to 720h0m0s (30 days)`))},
		{"bad times", "POST", "/v1/tasks", `{"type":"a:b","at":"tomorrow","delay":"1s","deadline":"2030-01-01"}`, nil, 400,
			bad400(fe("at", `"tomorrow" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00`),
				fe("deadline", `"2030-01-01" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00`))},
		{"payload twice", "POST", "/v1/tasks", `{"type":"a:b","payload":1,"payload_base64":"AA=="}`, nil, 400,
			bad400(fe("payload_base64", "payload and payload_base64 cannot be used together; pick one"))},
		{"bad base64", "POST", "/v1/tasks", `{"type":"a:b","payload_base64":"not base64!"}`, nil, 400,
			bad400(fe("payload_base64", "not standard base64 (illegal base64 data at input byte 3); encode the payload bytes with padding, alphabet A-Z a-z 0-9 + /"))},
		{"negative max_retry", "POST", "/v1/tasks", `{"type":"a:b","max_retry":-1}`, nil, 400,
			bad400(fe("max_retry", "-1 is negative; expected a whole number from 0 to 2147483647"))},
		{"trace header in headers", "POST", "/v1/tasks", `{"type":"a:b","headers":{"traceparent":"x"}}`, nil, 400,
			bad400(fe("headers.traceparent", "is set from the trace context; use the traceparent field instead of a header"))},
		{"bad traceparent field", "POST", "/v1/tasks", `{"type":"a:b","traceparent":"00-abc"}`, nil, 400,
			bad400(fe("traceparent", `"00-abc" is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>`))},
		{"blank queue and id", "POST", "/v1/tasks", `{"type":"a:b","queue":" ","id":""}`, nil, 400,
			bad400(fe("queue", "the queue name is blank; name a queue such as default, or leave it out to use the route's"),
				fe("id", "the task ID is empty; leave it out to get a generated one"))},
		{"unknown queue", "POST", "/v1/tasks", `{"type":"a:b","queue":"critcal"}`, nil, 400,
			bad400(fe("queue", `unknown queue "critcal"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)`))},
		{"no content type", "POST", "/v1/tasks", "", []string{"X-Body", "1"}, 415,
			problemJSON("unsupported-media-type", "The request body must be JSON", 415, "the request has no Content-Type; send a JSON body with Content-Type: application/json")},
		{"form content type", "POST", "/v1/tasks", `{"type":"a:b"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415,
			problemJSON("unsupported-media-type", "The request body must be JSON", 415, `the request has Content-Type "application/x-www-form-urlencoded"; send a JSON body with Content-Type: application/json`)},
		{"too large", "POST", "/v1/tasks", `{"type":"a:b","payload":"` + strings.Repeat("x", 2100) + `"}`, nil, 413,
			problemJSON("body-too-large", "The request body is too large", 413, "the body is larger than 2048 bytes (api.max_body_bytes); send fewer or smaller tasks")},
		{"bad idempotency key", "POST", "/v1/tasks", `{"type":"a:b"}`, []string{"Idempotency-Key", "caf\u00e9"}, 400,
			bad400(fe("Idempotency-Key", "has a character that is not printable ASCII; use for example a UUID"))},
		{"batch not an object", "POST", "/v1/tasks/batch", `[{"type":"a:b"}]`, nil, 400,
			bad400(fe("body", `expected a JSON object such as {"tasks":[{"type":"email:send","payload":{}}]}, got an array`))},
		{"batch without tasks", "POST", "/v1/tasks/batch", `{"task":[]}`, nil, 400,
			bad400(fe("task", `unknown field; a batch has only "tasks"`))},
		{"batch missing tasks", "POST", "/v1/tasks/batch", `{}`, nil, 400,
			bad400(fe("tasks", `missing; send the tasks as {"tasks":[{"type":"email:send","payload":{}}]}`))},
		{"batch tasks not an array", "POST", "/v1/tasks/batch", `{"tasks":{"type":"a:b"}}`, nil, 400,
			bad400(fe("tasks", "expected an array of task objects, got an object"))},
		{"batch empty", "POST", "/v1/tasks/batch", `{"tasks":[]}`, nil, 400,
			bad400(fe("tasks", "empty; send 1 to 3 tasks"))},
		{"batch too long", "POST", "/v1/tasks/batch", `{"tasks":[{},{},{},{}]}`, nil, 400,
			bad400(fe("tasks", "4 tasks; send at most 3 per request (api.max_batch)"))},
		{"unknown path", "GET", "/v1/task", "", nil, 404,
			problemJSON("not-found", "Not found", 404, "no such endpoint: /v1/task; the API serves /v1/tasks, /v1/tasks/batch, /v1/queues/{queue}/tasks/{id}, /v1/schedules, /v1/schedules/{name}, /v1/schedules/{name}/pause, /v1/schedules/{name}/resume, /v1/plugins/{name}/bundle, /v1/plugins/{name}/rollback, /v1/limits, /v1/limits/{name}, /v1/events, /v1/workflows, /v1/workflows/{id}, /v1/openapi.yaml, /healthz, /readyz, /metrics (see GET /v1/openapi.yaml)")},
		{"wrong method", "PUT", "/v1/tasks", `{}`, nil, 405,
			problemJSON("method-not-allowed", "Method not allowed", 405, "/v1/tasks does not accept PUT; use POST")},
		{"wrong method on a task", "POST", "/v1/queues/default/tasks/x", `{}`, nil, 405,
			problemJSON("method-not-allowed", "Method not allowed", 405, "/v1/queues/default/tasks/x does not accept POST; use DELETE or GET or HEAD")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, tt.method, tt.path, tt.body, tt.hdr...)
			if r.status != tt.status || r.body != tt.want {
				t.Errorf("%d %s\nwant %d %s", r.status, r.body, tt.status, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	t.Run("allow header", func(t *testing.T) {
		t.Parallel()
		if r := e.do(t, "PATCH", "/v1/queues/q/tasks/x", ""); r.header.Get("Allow") != "DELETE, GET, HEAD" {
			t.Errorf("Allow %q", r.header.Get("Allow"))
		}
	})
	t.Cleanup(func() {
		if n := e.pending(t, "default"); n != 0 {
			t.Errorf("bad requests stored %d tasks", n)
		}
	})
}

// TestHostCheck refuses a non-loopback Host while no token is configured.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do(t, "POST", "/v1/tasks", `{"type":"a:b"}`, "Host", "evil.example:8090")
	want := problemJSON("host-not-allowed", "Host not allowed", 403,
		`host "evil.example:8090" is not allowed; without tokens the API answers only to 127.0.0.1, [::1] and localhost`)
	if r.status != 403 || r.body != want {
		t.Errorf("%d %s", r.status, r.body)
	}
	for _, host := range []string{"localhost:8090", "127.0.0.1", "[::1]:1"} {
		if r := e.do(t, "GET", "/healthz", "", "Host", host); r.status != 200 {
			t.Errorf("Host %s: %d %s", host, r.status, r.body)
		}
	}
}

// TestDecodeTaskAll decodes every field of a task.
func TestDecodeTaskAll(t *testing.T) {
	t.Parallel()
	req, errs := httpapi.DecodeTask([]byte(`{"type":"a:b","payload":{ "x" : [1, 2] },"queue":"q","delay":"1m30s","max_retry":2,"timeout":"5s","deadline":"2030-01-02T03:04:05Z","unique":"1h","id":"i","retention":"2h","headers":{"h":"v"},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`), "")
	if errs != nil {
		t.Fatal(errs)
	}
	o := req.Options
	got := fmt.Sprintf("%s %s %s %s %d %s %s %s %s %s %v", req.Type, req.Payload, o.Queue, o.ProcessIn, *o.MaxRetry, o.Timeout,
		o.Deadline.Format("2006-01-02T15:04:05Z07:00"), o.UniqueTTL, o.TaskID, o.Retention, o.Headers)
	want := `a:b {"x":[1,2]} q 1m30s 2 5s 2030-01-02T03:04:05Z 1h0m0s i 2h0m0s map[h:v traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
