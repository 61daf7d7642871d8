package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/suggest"
	"github.com/tuskq/tuskq/tasks"
)

// TaskFields are the fields of a task object, in the order messages list
// them. They are the fields of an "enqueue --batch" line, so a line of such
// a file is a valid request body.
var TaskFields = []string{
	"type", "payload", "payload_base64", "queue", "delay", "at", "max_retry",
	"timeout", "deadline", "unique", "id", "retention", "headers", "traceparent",
}

// MaxIDLength is the longest task ID a request may set.
const MaxIDLength = 200

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

// traceContext is the W3C Trace Context propagator (stateless).
var traceContext propagation.TraceContext

// DecodeTask decodes one task object. data is the whole request body of
// POST /v1/tasks or one element of a batch's "tasks"; prefix is put before
// every field name in errors ("" or "tasks[3]."). Decoding is strict:
// malformed JSON, anything but an object, unknown and duplicate fields,
// values of the wrong JSON type, malformed durations, times, base64 and
// traceparents, and a missing or invalid type are each reported, all at
// once, as FieldErrors naming the field.
func DecodeTask(data []byte, prefix string) (TaskRequest, []FieldError) {
	if len(bytes.TrimSpace(data)) == 0 {
		return TaskRequest{}, []FieldError{{Field: bodyField(prefix), Detail: `empty; send a JSON object such as {"type":"email:send","payload":{}}`}}
	}
	if !json.Valid(data) {
		return TaskRequest{}, []FieldError{{Field: bodyField(prefix), Detail: syntaxProblem(data)}}
	}
	return decodeValidTask(data, prefix)
}

// bodyField names the whole object: "body" for a request body, "tasks[3]"
// for an element of a batch.
func bodyField(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return strings.TrimSuffix(prefix, ".")
}

// taskDecoder collects the errors of one task object.
type taskDecoder struct {
	prefix string
	errs   []FieldError
}

func (d *taskDecoder) add(field, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Field: d.prefix + field, Detail: fmt.Sprintf(format, args...)})
}

// decodeValidTask decodes a task object from valid JSON.
func decodeValidTask(data []byte, prefix string) (TaskRequest, []FieldError) {
	d := &taskDecoder{prefix: prefix}
	members, ok := jsonscan.Members(data)
	if !ok {
		return TaskRequest{}, []FieldError{{Field: bodyField(prefix), Detail: fmt.Sprintf(`expected a JSON object such as {"type":"email:send","payload":{}}, got %s`, jsonscan.Kind(bytes.TrimSpace(data)))}}
	}
	fields := make(map[string][]byte, len(members))
	for _, m := range members {
		switch {
		case !knownField(m.Name):
			d.unknownField(m.Name)
		case fields[m.Name] != nil:
			d.add(m.Name, "appears twice; give each field once")
		default:
			fields[m.Name] = m.Value
		}
	}
	var req TaskRequest
	d.decodeType(fields, &req)
	d.decodePayload(fields, &req)
	d.decodeOptions(fields, &req.Options)
	if len(d.errs) > 0 {
		return TaskRequest{}, d.errs
	}
	return req, nil
}

func knownField(name string) bool {
	for _, f := range TaskFields {
		if f == name {
			return true
		}
	}
	return false
}

// fieldName is how errors name a field: itself, or `""` when empty.
func fieldName(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// unknownField reports a field that is not a task field, suggesting the
// nearest one when it is close.
func (d *taskDecoder) unknownField(name string) {
	best, dist := suggest.Closest(strings.ToLower(name), TaskFields)
	name = fieldName(name)
	if dist >= 0 && dist <= 2 && 2*dist < len(name) {
		d.add(name, "unknown field (did you mean %q?)", best)
		return
	}
	d.add(name, "unknown field; the fields are %s", strings.Join(TaskFields, ", "))
}

func (d *taskDecoder) decodeType(fields map[string][]byte, req *TaskRequest) {
	raw, ok := fields["type"]
	if !ok {
		d.add("type", `missing; every task needs a type such as "email:send"`)
		return
	}
	s, ok := d.str("type", raw)
	if !ok {
		return
	}
	if err := tasks.ValidateType(s); err != nil {
		d.add("type", "%v", err)
		return
	}
	req.Type = s
}

func (d *taskDecoder) decodePayload(fields map[string][]byte, req *TaskRequest) {
	payload, hasPayload := fields["payload"]
	b64, hasB64 := fields["payload_base64"]
	switch {
	case hasPayload && hasB64:
		d.add("payload_base64", "payload and payload_base64 cannot be used together; pick one")
	case hasPayload:
		req.Payload = compact(payload)
	case hasB64:
		s, ok := d.str("payload_base64", b64)
		if !ok {
			return
		}
		p, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d.add("payload_base64", "not standard base64 (%v); encode the payload bytes with padding, alphabet A-Z a-z 0-9 + /", err)
			return
		}
		req.Payload = p
	}
}

func (d *taskDecoder) decodeOptions(fields map[string][]byte, o *tasks.EnqueueOptions) {
	if s, ok := d.strField(fields, "queue"); ok && d.checkQueue(s) {
		o.Queue = s
	}
	if s, ok := d.strField(fields, "delay"); ok {
		o.ProcessIn, _ = d.duration("delay", s, 0)
	}
	if s, ok := d.strField(fields, "at"); ok {
		o.ProcessAt, _ = d.time("at", s)
	}
	if _, ok := fields["delay"]; ok {
		if _, ok := fields["at"]; ok {
			d.add("at", "delay and at cannot be used together; pick one")
		}
	}
	if raw, ok := fields["max_retry"]; ok {
		if n, ok := d.count("max_retry", raw); ok {
			o.MaxRetry = &n
		}
	}
	if s, ok := d.strField(fields, "timeout"); ok {
		o.Timeout, _ = d.duration("timeout", s, time.Second)
	}
	if s, ok := d.strField(fields, "deadline"); ok {
		o.Deadline, _ = d.time("deadline", s)
	}
	if s, ok := d.strField(fields, "unique"); ok {
		o.UniqueTTL, _ = d.duration("unique", s, time.Second)
	}
	if s, ok := d.strField(fields, "id"); ok && d.checkID(s) {
		o.TaskID = s
	}
	if s, ok := d.strField(fields, "retention"); ok {
		o.Retention, _ = d.duration("retention", s, time.Second)
	}
	if raw, ok := fields["headers"]; ok {
		o.Headers = d.headers(raw)
	}
	if s, ok := d.strField(fields, "traceparent"); ok {
		if !validTraceparent(s) {
			d.add("traceparent", "%q is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>", s)
			return
		}
		if o.Headers == nil {
			o.Headers = map[string]string{}
		}
		o.Headers[tasks.HeaderTraceparent] = s
	}
}

// compact returns valid JSON without insignificant white space: a copy of
// raw itself when it has no white space at all (the usual case, and much
// cheaper than json.Compact).
func compact(raw []byte) []byte {
	if !bytes.ContainsAny(raw, " \t\r\n") {
		return bytes.Clone(raw)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw) // valid JSON: checked by the caller
	return buf.Bytes()
}

// str decodes a JSON string.
func (d *taskDecoder) str(name string, raw []byte) (string, bool) {
	if raw[0] != '"' {
		d.add(name, "expected a string, got %s", jsonscan.Kind(raw))
		return "", false
	}
	return jsonscan.Unquote(raw), true
}

// strField decodes the string field name when it is present.
func (d *taskDecoder) strField(fields map[string][]byte, name string) (string, bool) {
	raw, ok := fields[name]
	if !ok {
		return "", false
	}
	return d.str(name, raw)
}

// duration parses a Go duration of at least minimum. A positive minimum
// (1s for the options asynq stores in seconds) also requires a whole
// number of seconds, so that nothing is silently truncated.
func (d *taskDecoder) duration(name, s string, minimum time.Duration) (time.Duration, bool) {
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.add(name, "%q is not a duration; use Go syntax such as 30s or 1h30m", s)
	case minimum == 0 && v < 0:
		d.add(name, "%q is negative; use 0s or more", s)
	case v < minimum:
		d.add(name, "%q is less than %s; use %s or more", s, minimum, minimum)
	case minimum > 0 && v%time.Second != 0:
		d.add(name, "%q is not a whole number of seconds (asynq stores seconds); use for example %s", s, v.Round(time.Second))
	default:
		return v, true
	}
	return 0, false
}

// time parses an RFC 3339 time.
func (d *taskDecoder) time(name, s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.add(name, "%q is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00", s)
		return time.Time{}, false
	}
	return t, true
}

// count decodes a whole number of 0 or more.
func (d *taskDecoder) count(name string, raw []byte) (int, bool) {
	switch raw[0] {
	case '"', 't', 'f', 'n', '{', '[':
		d.add(name, "expected a whole number of 0 or more, got %s", jsonscan.Kind(raw))
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		d.add(name, "expected a whole number of 0 or more, got %s", raw)
		return 0, false
	}
	return int(f), true
}

// checkQueue accepts a queue name that is not blank and has no white
// space, control characters or braces (braces change Redis Cluster hash
// slots).
func (d *taskDecoder) checkQueue(s string) bool {
	if strings.TrimSpace(s) == "" {
		d.add("queue", "the queue name is empty; name a queue such as default, or leave the field out to use the route's")
		return false
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' || r == unicode.ReplacementChar
	}) {
		d.add("queue", "%q is not a queue name; use letters, digits and punctuation without spaces or braces", s)
		return false
	}
	return true
}

// checkID accepts a task ID of 1 to MaxIDLength printable characters.
func (d *taskDecoder) checkID(s string) bool {
	switch {
	case strings.TrimSpace(s) == "":
		d.add("id", "the task ID is empty; leave the field out to get a generated one")
	case len(s) > MaxIDLength:
		d.add("id", "the task ID is %d bytes long; the limit is %d", len(s), MaxIDLength)
	case strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }):
		d.add("id", "%q has characters that are not printable; use letters, digits and punctuation", s)
	default:
		return true
	}
	return false
}

// headers decodes an object of string values.
func (d *taskDecoder) headers(raw []byte) map[string]string {
	members, ok := jsonscan.Members(raw)
	if !ok {
		d.add("headers", "expected an object of strings, got %s", jsonscan.Kind(raw))
		return nil
	}
	h := make(map[string]string, len(members))
	for _, m := range members {
		name := "headers." + m.Name
		switch strings.ToLower(m.Name) {
		case "":
			d.add("headers", "a header name is empty")
			continue
		case tasks.HeaderTraceparent, tasks.HeaderTracestate:
			d.add(name, "is set from the trace context; use the traceparent field or the traceparent HTTP header")
			continue
		}
		if _, dup := h[m.Name]; dup {
			d.add(name, "appears twice; give each header once")
			continue
		}
		if s, ok := d.str(name, m.Value); ok {
			h[m.Name] = s
		}
	}
	return h
}

// validTraceparent reports whether s is a valid W3C traceparent.
func validTraceparent(s string) bool {
	return traceSpan(s).IsValid()
}

// traceSpan returns the remote span context of a traceparent; invalid when
// s is not one.
func traceSpan(s string) trace.SpanContext {
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{tasks.HeaderTraceparent: s})
	return trace.SpanContextFromContext(ctx)
}
