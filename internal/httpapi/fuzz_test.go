package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/tasks"
)

// FuzzDecodeTask feeds arbitrary bodies to the request decoders. The seed
// corpus is in testdata/fuzz/FuzzDecodeTask. DecodeTask must never panic;
// it returns either a valid request or errors that each name a field and
// say what is wrong; a request it accepts, encoded again, decodes to the
// same request. DecodeBatch must never panic and returns 1 to max valid
// JSON elements or errors.
func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`{"type":"email:send","payload":{"to":"a@example.com"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, errs := httpapi.DecodeTask(body, "")
		checkErrors(t, errs)
		if errs == nil {
			checkRequest(t, req)
		}
		elems, errs := httpapi.DecodeBatch(body, 5)
		checkErrors(t, errs)
		if errs == nil {
			if len(elems) < 1 || len(elems) > 5 {
				t.Fatalf("DecodeBatch returned %d elements", len(elems))
			}
			for i, el := range elems {
				if !json.Valid(el) {
					t.Fatalf("element %d is not valid JSON: %q", i, el)
				}
				_, errs := httpapi.DecodeTask(el, "tasks[0].")
				for _, e := range errs {
					if !strings.HasPrefix(e.Field, "tasks[0]") {
						t.Fatalf("element error without the prefix: %+v", e)
					}
				}
			}
		}
	})
}

// checkErrors checks that every error names a field and explains itself.
func checkErrors(t *testing.T, errs []httpapi.FieldError) {
	t.Helper()
	if errs != nil && len(errs) == 0 {
		t.Fatal("empty, non-nil error list")
	}
	for _, e := range errs {
		if e.Field == "" || e.Detail == "" {
			t.Fatalf("error without field or detail: %+v", e)
		}
	}
}

// checkRequest checks an accepted request and its round trip.
func checkRequest(t *testing.T, req httpapi.TaskRequest) {
	t.Helper()
	if err := tasks.ValidateType(req.Type); err != nil {
		t.Fatalf("accepted an invalid type: %v", err)
	}
	o := req.Options
	if o.ProcessIn < 0 || (o.Timeout != 0 && o.Timeout < time.Second) || o.Timeout%time.Second != 0 ||
		o.UniqueTTL%time.Second != 0 || o.Retention%time.Second != 0 || (o.MaxRetry != nil && *o.MaxRetry < 0) {
		t.Fatalf("accepted bad options: %+v", o)
	}
	if !o.ProcessAt.IsZero() && o.ProcessIn != 0 {
		t.Fatal("accepted both delay and at")
	}
	m := map[string]any{"type": req.Type}
	if req.Payload != nil {
		m["payload_base64"] = base64.StdEncoding.EncodeToString(req.Payload)
	}
	set := func(name string, ok bool, v any) {
		if ok {
			m[name] = v
		}
	}
	set("queue", o.Queue != "", o.Queue)
	set("delay", o.ProcessIn != 0, o.ProcessIn.String())
	set("at", !o.ProcessAt.IsZero(), o.ProcessAt.Format(time.RFC3339Nano))
	set("max_retry", o.MaxRetry != nil, o.MaxRetry)
	set("timeout", o.Timeout != 0, o.Timeout.String())
	set("deadline", !o.Deadline.IsZero(), o.Deadline.Format(time.RFC3339Nano))
	set("unique", o.UniqueTTL != 0, o.UniqueTTL.String())
	set("id", o.TaskID != "", o.TaskID)
	set("retention", o.Retention != 0, o.Retention.String())
	headers := map[string]string{}
	for k, v := range o.Headers {
		if k == tasks.HeaderTraceparent {
			m["traceparent"] = v
			continue
		}
		headers[k] = v
	}
	set("headers", o.Headers != nil, headers)
	again, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	req2, errs := httpapi.DecodeTask(again, "")
	if errs != nil {
		t.Fatalf("re-encoded request %s: %v", again, errs)
	}
	if !req.Options.ProcessAt.Equal(req2.Options.ProcessAt) || !req.Options.Deadline.Equal(req2.Options.Deadline) {
		t.Fatalf("times changed: %v %v -> %v %v", req.Options.ProcessAt, req.Options.Deadline, req2.Options.ProcessAt, req2.Options.Deadline)
	}
	req.Options.ProcessAt, req.Options.Deadline = time.Time{}, time.Time{}
	req2.Options.ProcessAt, req2.Options.Deadline = time.Time{}, time.Time{}
	if len(req.Payload) == 0 {
		req.Payload, req2.Payload = nil, nil
	}
	if !reflect.DeepEqual(req, req2) {
		t.Fatalf("round trip changed the request:\n%+v\n%+v\nvia %s", req, req2, again)
	}
}
