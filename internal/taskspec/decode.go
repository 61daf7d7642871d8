package taskspec

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/suggest"
)

// example is the shape of a task object, for messages.
const example = `{"type":"email:send","payload":{}}`

// Decoder builds one task object from fields given one at a time, in the
// text form of a command line (Text, Header) or as JSON (DecodeJSON), and
// reports every problem at once. The zero value is ready; Prefix goes
// before every field name in problems ("tasks[3].").
type Decoder struct {
	// Prefix is put before every field name in problems.
	Prefix string

	task     Task
	problems Problems
}

func (d *Decoder) add(field, expected, format string, args ...any) {
	d.problems = append(d.problems, Problem{Field: d.Prefix + field, Detail: fmt.Sprintf(format, args...), Expected: expected})
}

// Text sets a field from its text form, as a command-line flag or a JSON
// string gives it: type, queue, delay, at, max_retry, timeout, deadline,
// unique (a duration or until_end), unique_key, id, retention and
// traceparent.
func (d *Decoder) Text(field, s string) {
	o := &d.task.Options
	switch field {
	case FieldType:
		if msg := CheckType(s); msg != "" {
			d.add(field, "", "%s", msg)
			return
		}
		d.task.Type = s
	case FieldQueue:
		if s == "" {
			d.add(field, expectQueue, "the queue name is empty; name a queue such as default, or leave it out to use the route's")
			return
		}
		o.Queue = s
	case FieldDelay:
		o.ProcessIn, _ = d.duration(field, s)
	case FieldAt:
		o.ProcessAt, _ = d.time(field, s)
	case FieldDeadline:
		o.Deadline, _ = d.time(field, s)
	case FieldTimeout:
		o.Timeout = d.secondsText(field, s, expectTimeout)
	case FieldUnique:
		if s == UniqueUntilEnd {
			o.UniqueUntilEnd = true
			return
		}
		o.UniqueTTL = d.secondsText(field, s, expectUnique)
	case FieldUniqueKey:
		if s == "" {
			d.add(field, expectUniqueKey, "the unique key is empty; name the task's uniqueness (an order number, say), or leave it out")
			return
		}
		o.UniqueKey = s
	case FieldRetention:
		o.Retention = d.secondsText(field, s, expectRetention)
	case FieldMaxRetry:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.add(field, expectMaxRetry, "%s is out of range; expected %s", s, expectMaxRetry)
				return
			}
			d.add(field, expectMaxRetry, "%q is not a whole number; expected %s", s, expectMaxRetry)
			return
		}
		d.maxRetry(n)
	case FieldID:
		if s == "" {
			d.add(field, expectID, "the task ID is empty; leave it out to get a generated one")
			return
		}
		o.TaskID = s
	case FieldTraceparent:
		if !ValidTraceparent(s) {
			d.add(field, "", "%q is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>", s)
			return
		}
		d.setHeader(HeaderTraceparent, s)
	default:
		d.add(field, "", "has no text form")
	}
}

// maxRetry sets a retry budget after the range check every door shares.
func (d *Decoder) maxRetry(n int64) {
	c := &checker{prefix: d.Prefix}
	if c.maxRetry(n); len(c.problems) > 0 {
		d.problems = append(d.problems, c.problems...)
		return
	}
	v := int(n)
	d.task.Options.MaxRetry = &v
}

// Header adds a task header, as --header KEY=VALUE gives it. The trace
// headers are refused: the traceparent field (or the caller's trace
// context) sets them.
func (d *Decoder) Header(name, value string) {
	field := FieldHeaders + "." + name
	switch strings.ToLower(name) {
	case "":
		d.add(FieldHeaders, "", "a header name is empty")
		return
	case HeaderTraceparent, HeaderTracestate:
		d.add(field, "", "is set from the trace context; use the traceparent field instead of a header")
		return
	}
	if _, dup := d.task.Options.Headers[name]; dup {
		d.add(field, "", "appears twice; give each header once")
		return
	}
	d.setHeader(name, value)
}

func (d *Decoder) setHeader(name, value string) {
	if d.task.Options.Headers == nil {
		d.task.Options.Headers = map[string]string{}
	}
	d.task.Options.Headers[name] = value
}

// Payload sets the payload bytes.
func (d *Decoder) Payload(p []byte) { d.task.Payload = p }

// Result checks the options set so far against the shared rules
// (CheckOptions, at measured from now) and returns the task, or every
// problem found while decoding and checking. The task holds the fields
// that decoded even when there are problems.
func (d *Decoder) Result(now time.Time) (Task, Problems) {
	c := &checker{prefix: d.Prefix}
	c.options(d.task.Options, now)
	// A field already reported while decoding is not reported twice.
	for _, p := range c.problems {
		if !d.reported(p.Field) {
			d.problems = append(d.problems, p)
		}
	}
	// Unknown fields first, then in the order of Fields.
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		return cmp.Compare(rank(d.Prefix, a.Field), rank(d.Prefix, b.Field))
	})
	return d.task, d.problems
}

// rank orders problems by field: unknown fields first, then as Fields.
func rank(prefix, field string) int {
	field = strings.TrimPrefix(field, prefix)
	if base, _, ok := strings.Cut(field, "."); ok {
		field = base
	}
	return slices.Index(Fields, field)
}

func (d *Decoder) reported(field string) bool {
	for _, p := range d.problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// duration parses a Go duration.
func (d *Decoder) duration(field, s string) (time.Duration, bool) {
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(field, "", "%q is not a duration; use Go syntax such as 30s or 1h30m", s)
		return 0, false
	}
	return v, true
}

// secondsText parses a duration asynq stores in seconds. 0 is refused
// here (leave the field out instead); the range is checked by Result.
func (d *Decoder) secondsText(field, s, expected string) time.Duration {
	v, ok := d.duration(field, s)
	if ok && v == 0 {
		d.add(field, expected, "%s is less than 1s; expected %s", v, expected)
		return 0
	}
	return v
}

// time parses an RFC 3339 time.
func (d *Decoder) time(field, s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.add(field, "", "%q is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00", s)
		return time.Time{}, false
	}
	return t, true
}

// DecodeJSON decodes one task object, as an enqueue --batch line or an
// HTTP body gives it, and checks it with the shared rules (at measured
// from now). Decoding is strict: malformed JSON, anything but an object,
// unknown and duplicate fields, values of the wrong JSON type, strings
// that are not UTF-8, malformed durations, times, base64 and traceparents,
// a missing or invalid type and options out of bounds are each reported,
// all at once, naming the field after prefix. The task holds the fields
// that decoded even when there are problems.
func DecodeJSON(data []byte, prefix string, now time.Time) (Task, Problems) {
	d := &Decoder{Prefix: prefix}
	whole := strings.TrimSuffix(prefix, ".")
	if whole == "" {
		whole = "body"
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Task{}, Problems{{Field: whole, Detail: "empty; send a JSON object such as " + example}}
	}
	if !json.Valid(data) {
		return Task{}, Problems{{Field: whole, Detail: SyntaxProblem(data)}}
	}
	members, err := jsonscan.Members(data)
	if err != nil {
		if errors.Is(err, jsonscan.ErrNotObject) {
			return Task{}, Problems{{Field: whole, Detail: fmt.Sprintf("expected a JSON object such as %s, got %s", example, jsonscan.Kind(data))}}
		}
		return Task{}, Problems{{Field: whole, Detail: err.Error()}}
	}
	fields := make(map[string][]byte, len(members))
	for _, m := range members {
		switch {
		case !knownField(m.Name):
			d.unknownField(m.Name)
		case fields[m.Name] != nil:
			d.add(m.Name, "", "appears twice; give each field once")
		default:
			fields[m.Name] = m.Value
		}
	}
	d.jsonFields(fields)
	return d.Result(now)
}

// jsonFields decodes the known fields of an object.
func (d *Decoder) jsonFields(fields map[string][]byte) {
	if _, ok := fields[FieldType]; !ok {
		d.add(FieldType, "", `missing; every task needs a type such as "email:send"`)
	}
	payload, hasPayload := fields[FieldPayload]
	_, hasB64 := fields[FieldPayloadBase64]
	switch {
	case hasPayload && hasB64:
		d.add(FieldPayloadBase64, "", "payload and payload_base64 cannot be used together; pick one")
	case hasPayload:
		d.task.Payload = compact(payload)
	}
	for _, name := range Fields {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		switch name {
		case FieldPayload:
		case FieldMaxRetry:
			d.jsonCount(name, raw)
		case FieldHeaders:
			d.jsonHeaders(raw)
		case FieldPayloadBase64:
			if s, ok := d.str(name, raw); ok && !hasPayload {
				p, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					d.add(name, "", "not standard base64 (%v); encode the payload bytes with padding, alphabet A-Z a-z 0-9 + /", err)
					continue
				}
				d.task.Payload = p
			}
		default:
			if s, ok := d.str(name, raw); ok {
				d.Text(name, s)
			}
		}
	}
	if _, ok := fields[FieldDelay]; ok {
		if _, ok := fields[FieldAt]; ok && !d.reported(d.Prefix+FieldAt) {
			d.add(FieldAt, "", "delay and at cannot be used together; pick one")
		}
	}
}

func knownField(name string) bool {
	for _, f := range Fields {
		if f == name {
			return true
		}
	}
	return false
}

// unknownField reports a field that is not a task field, suggesting the
// nearest one when it is close.
func (d *Decoder) unknownField(name string) {
	shown := name
	if shown == "" {
		shown = `""`
	}
	if best, dist := suggest.Closest(strings.ToLower(name), Fields); dist >= 0 && dist <= 2 && 2*dist < len(name) {
		d.add(shown, "", "unknown field (did you mean %q?)", best)
		return
	}
	d.add(shown, "", "unknown field; the fields are %s", strings.Join(Fields, ", "))
}

// str decodes a JSON string of valid UTF-8.
func (d *Decoder) str(field string, raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		d.add(field, "", "expected a string, got %s", jsonscan.Kind(raw))
		return "", false
	}
	s, err := jsonscan.Unquote(raw)
	if err != nil {
		if errors.Is(err, jsonscan.ErrInvalidUTF8) {
			d.add(field, "", "%s", notUTF8)
		} else {
			d.add(field, "", "%v", err)
		}
		return "", false
	}
	return s, true
}

// jsonCount decodes a whole number; its range is checked by Result.
func (d *Decoder) jsonCount(field string, raw []byte) {
	switch raw[0] {
	case '"', 't', 'f', 'n', '{', '[':
		d.add(field, expectMaxRetry, "expected a whole number, got %s", jsonscan.Kind(raw))
		return
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		d.maxRetry(n)
		return
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), f != math.Trunc(f):
		d.add(field, expectMaxRetry, "%s is not a whole number; expected %s", raw, expectMaxRetry)
	case f < 0:
		d.add(field, expectMaxRetry, "%s is negative; expected %s", raw, expectMaxRetry)
	default:
		d.add(field, expectMaxRetry, "%s is more than %d (asynq stores 32 bits); expected %s", raw, MaxRetry, expectMaxRetry)
	}
}

// jsonHeaders decodes an object of string values.
func (d *Decoder) jsonHeaders(raw []byte) {
	members, err := jsonscan.Members(raw)
	if err != nil {
		d.add(FieldHeaders, "", "expected an object of strings, got %s", jsonscan.Kind(raw))
		return
	}
	if d.task.Options.Headers == nil {
		d.task.Options.Headers = make(map[string]string, len(members))
	}
	for _, m := range members {
		if s, ok := d.str(FieldHeaders+"."+m.Name, m.Value); ok {
			d.Header(m.Name, s)
		}
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

// SyntaxProblem describes why data is not valid JSON.
func SyntaxProblem(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input", errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the input ends before the JSON value is complete"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case err != nil:
		return "invalid JSON: " + err.Error()
	}
	return "invalid JSON"
}
