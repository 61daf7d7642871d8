package enqueuecli_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/tasks"
)

func TestDecodeLine(t *testing.T) {
	t.Parallel()
	req, err := enqueuecli.DecodeLine([]byte(`{"type":"email:send","payload":{ "to" : [1, 2] },"queue":"low","delay":"1m30s",
		"max_retry":3,"timeout":"10s","deadline":"2030-01-02T03:04:05+01:00","unique":"1h","id":"abc","retention":"24h",
		"headers":{"tenant":"acme"},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`))
	if err != nil {
		t.Fatal(err)
	}
	o := req.Options
	deadline := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC)
	if req.Type != "email:send" || string(req.Payload) != `{"to":[1,2]}` || o.Queue != "low" || o.ProcessIn != 90*time.Second ||
		o.MaxRetry == nil || *o.MaxRetry != 3 || o.Timeout != 10*time.Second || !o.Deadline.Equal(deadline) ||
		o.UniqueTTL != time.Hour || o.TaskID != "abc" || o.Retention != 24*time.Hour || !o.ProcessAt.IsZero() {
		t.Errorf("decoded %+v", req)
	}
	wantHeaders := map[string]string{"tenant": "acme", tasks.HeaderTraceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	if !maps.Equal(o.Headers, wantHeaders) {
		t.Errorf("headers %v, want %v", o.Headers, wantHeaders)
	}

	// The minimal line: a type; no payload is an empty payload.
	req, err = enqueuecli.DecodeLine([]byte(` { "type" : "a" } `))
	if err != nil || req.Type != "a" || req.Payload != nil || req.Options.MaxRetry != nil || req.Options.Headers != nil {
		t.Errorf("minimal line: %+v, %v", req, err)
	}
	// A string payload is stored as its JSON encoding; payload_base64 as
	// the bytes.
	for line, want := range map[string]string{
		`{"type":"a","payload":"hi"}`:          `"hi"`,
		`{"type":"a","payload":null}`:          `null`,
		`{"type":"a","payload":-1.5e3}`:        `-1.5e3`,
		`{"type":"a","payload_base64":"aGk="}`: "hi",
		`{"type":"a","payload_base64":""}`:     "",
	} {
		req, err := enqueuecli.DecodeLine([]byte(line))
		if err != nil || string(req.Payload) != want {
			t.Errorf("%s: payload %q, %v; want %q", line, req.Payload, err, want)
		}
	}
	// max_retry accepts whole numbers only.
	for line, want := range map[string]string{
		`{"type":"a","max_retry":1.5}`:    "max_retry: 1.5 is not a whole number; expected a whole number from 0 to 2147483647",
		`{"type":"a","max_retry":1e10}`:   "max_retry: 1e10 is more than 2147483647 (asynq stores 32 bits); expected a whole number from 0 to 2147483647",
		`{"type":"a","max_retry":null}`:   "max_retry: expected a whole number, got null",
		`{"type":"a","max_retry":{}}`:     "max_retry: expected a whole number, got an object",
		`{"type":"a","queue":true}`:       "queue: expected a string, got a boolean",
		`{"type":["a"]}`:                  "type: expected a string, got an array",
		`{"type":"a","headers":{"":"x"}}`: "headers: a header name is empty",
		`{"type":"a","tipe":"b"}`:         `tipe: unknown field (did you mean "type"?)`,
		`{"type":"a","at":"2030-01-01"}`:  `at: "2030-01-01" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00`,
		``:                                `the line is empty; want one JSON object such as {"type":"email:send","payload":{}}`,
	} {
		_, err := enqueuecli.DecodeLine([]byte(line))
		if err == nil || err.Error() != want || !errors.Is(err, enqueuecli.ErrBadInput) {
			t.Errorf("%s: error %v; want %q matching ErrBadInput", line, err, want)
		}
	}
}

// FuzzDecodeLine checks that DecodeLine never panics, that every error
// matches ErrBadInput and prints as non-empty lines, and that every
// accepted line round-trips: encoding the request as a line and decoding
// it again gives the same request.
func FuzzDecodeLine(f *testing.F) {
	for _, seed := range []string{
		`{"type":"email:send","payload":{"to":"a@example.com"}}`,
		`{"type":"x:y","payload_base64":"AAEC","queue":"low","delay":"1m","max_retry":0}`,
		`{"type":"x:y","at":"2030-01-02T03:04:05.123+01:00","timeout":"10s","deadline":"2031-01-01T00:00:00Z"}`,
		`{"type":"x:y","unique":"1h","id":"abc","retention":"24h","headers":{"a":"b"}}`,
		`{"type":"x:y","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
		`{"type":"x:y","type":"z"}`,
		`not json`,
		`{"type":"x:y"}{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := enqueuecli.DecodeLine(line)
		if err != nil {
			if !errors.Is(err, enqueuecli.ErrBadInput) {
				t.Fatalf("error %v does not match ErrBadInput", err)
			}
			for _, msg := range strings.Split(err.Error(), "\n") {
				if strings.TrimSpace(msg) == "" {
					t.Fatalf("error %q has an empty line", err)
				}
			}
			return
		}
		if err := tasks.ValidateType(req.Type); err != nil {
			t.Fatalf("accepted invalid type: %v", err)
		}
		o := req.Options
		if !o.ProcessAt.IsZero() && o.ProcessIn != 0 {
			t.Fatalf("accepted both at and delay: %+v", o)
		}
		again, err := enqueuecli.DecodeLine(encodeLine(t, req))
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", req, err)
		}
		if !sameRequest(req, again) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, again)
		}
	})
}

// encodeLine writes req as a batch line.
func encodeLine(t *testing.T, req tasks.Request) []byte {
	o := req.Options
	m := map[string]any{"type": req.Type, "payload_base64": base64.StdEncoding.EncodeToString(req.Payload)}
	put := func(name string, set bool, v any) {
		if set {
			m[name] = v
		}
	}
	put("queue", o.Queue != "", o.Queue)
	put("delay", o.ProcessIn != 0, o.ProcessIn.String())
	put("at", !o.ProcessAt.IsZero(), o.ProcessAt.Format(time.RFC3339Nano))
	put("max_retry", o.MaxRetry != nil, o.MaxRetry)
	put("timeout", o.Timeout != 0, o.Timeout.String())
	put("deadline", !o.Deadline.IsZero(), o.Deadline.Format(time.RFC3339Nano))
	put("unique", o.UniqueTTL != 0, o.UniqueTTL.String())
	put("id", o.TaskID != "", o.TaskID)
	put("retention", o.Retention != 0, o.Retention.String())
	h := maps.Clone(o.Headers)
	if tp, ok := h[tasks.HeaderTraceparent]; ok {
		m["traceparent"] = tp
		delete(h, tasks.HeaderTraceparent)
	}
	put("headers", len(h) > 0, h)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameRequest compares two decoded requests, times by instant.
func sameRequest(a, b tasks.Request) bool {
	ao, bo := a.Options, b.Options
	sameRetry := (ao.MaxRetry == nil) == (bo.MaxRetry == nil) && (ao.MaxRetry == nil || *ao.MaxRetry == *bo.MaxRetry)
	return a.Type == b.Type && string(a.Payload) == string(b.Payload) && ao.Queue == bo.Queue &&
		ao.ProcessIn == bo.ProcessIn && ao.ProcessAt.Equal(bo.ProcessAt) && sameRetry &&
		ao.Timeout == bo.Timeout && ao.Deadline.Equal(bo.Deadline) && ao.UniqueTTL == bo.UniqueTTL &&
		ao.TaskID == bo.TaskID && ao.Retention == bo.Retention && maps.Equal(ao.Headers, bo.Headers)
}
