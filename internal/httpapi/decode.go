package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// TaskFields are the fields of a task object, in the order messages list
// them (taskspec.Fields). They are the fields of an "enqueue --batch"
// line, so a line of such a file is a valid request body.
var TaskFields = taskspec.Fields

// MaxIDLength is the longest task ID a request may set.
const MaxIDLength = taskspec.MaxIDLength

// traceContext is the W3C Trace Context propagator (stateless).
var traceContext propagation.TraceContext

// TaskRequest is one decoded task of a request.
type TaskRequest struct {
	// Type is the task type.
	Type string
	// Payload is the compact JSON encoding of "payload", or the bytes of
	// "payload_base64"; nil when neither is given.
	Payload []byte
	// Options holds the options of the request. A traceparent given in the
	// body is in Options.Headers under tasks.HeaderTraceparent.
	Options tasks.EnqueueOptions
}

// DecodeTask decodes one task object with taskspec.DecodeJSON, the decoder
// and checks the enqueue CLI's --batch lines use too. data is the whole
// request body of POST /v1/tasks or one element of a batch's "tasks";
// prefix is put before every field name in errors ("" or "tasks[3].").
// Every problem is reported, all at once, as FieldErrors naming the field.
func DecodeTask(data []byte, prefix string) (TaskRequest, []FieldError) {
	req, probs := decodeTask(data, prefix)
	if len(probs) > 0 {
		return TaskRequest{}, fieldErrors(probs)
	}
	return req, nil
}

// decodeTask decodes a task object; the request holds the fields that
// decoded even when there are problems.
func decodeTask(data []byte, prefix string) (TaskRequest, taskspec.Problems) {
	t, probs := taskspec.DecodeJSON(data, prefix, time.Now())
	return TaskRequest{Type: t.Type, Payload: t.Payload, Options: tasks.EnqueueOptions(t.Options)}, probs
}

// fieldErrors converts problems to field errors.
func fieldErrors(probs taskspec.Problems) []FieldError {
	errs := make([]FieldError, len(probs))
	for i, p := range probs {
		errs[i] = FieldError{Field: p.Field, Detail: p.Detail}
	}
	return errs
}

// bodyField names the whole object: "body" for a request body, "tasks[3]"
// for an element of a batch.
func bodyField(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return prefix[:len(prefix)-1]
}

// fieldName is how errors name a field: itself, or `""` when empty.
func fieldName(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// canonicalTask is the decoded form of a task object that idempotency
// fingerprints: the same request gives the same encoding whatever the
// order of its JSON keys or its white space.
type canonicalTask struct {
	Type      string            `json:"type"`
	Payload   []byte            `json:"payload"`
	Queue     string            `json:"queue"`
	ProcessAt int64             `json:"at"`
	ProcessIn int64             `json:"delay"`
	MaxRetry  *int              `json:"max_retry"`
	Timeout   int64             `json:"timeout"`
	Deadline  int64             `json:"deadline"`
	UniqueTTL int64             `json:"unique"`
	UniqueKey string            `json:"unique_key"`
	UntilEnd  bool              `json:"until_end"`
	TaskID    string            `json:"id"`
	Retention int64             `json:"retention"`
	Headers   map[string]string `json:"headers"` // encoded with sorted keys
}

// canonical encodes a decoded request for its fingerprint.
func canonical(req TaskRequest) []byte {
	o := req.Options
	if len(o.Headers) == 0 {
		o.Headers = nil // {} and no headers are the same request
	}
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixNano()
	}
	b, _ := json.Marshal(canonicalTask{
		Type: req.Type, Payload: req.Payload, Queue: o.Queue, ProcessAt: unix(o.ProcessAt), ProcessIn: int64(o.ProcessIn),
		MaxRetry: o.MaxRetry, Timeout: int64(o.Timeout), Deadline: unix(o.Deadline), UniqueTTL: int64(o.UniqueTTL),
		UniqueKey: o.UniqueKey, UntilEnd: o.UniqueUntilEnd,
		TaskID: o.TaskID, Retention: int64(o.Retention), Headers: o.Headers,
	}) // plain values: cannot fail
	return b
}

// fingerprint identifies a request by its endpoint and its decoded tasks
// (each encoded by canonical), not by the bytes of its body: reordered
// keys or other white space are the same request.
func fingerprint(endpoint string, tasks ...[]byte) string {
	h := sha256.New()
	h.Write([]byte(endpoint))
	for _, t := range tasks {
		h.Write([]byte{0})
		h.Write(t)
	}
	return hex.EncodeToString(h.Sum(nil))
}
