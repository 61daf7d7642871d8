package enqueuecli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/suggest"
	"github.com/tuskq/tuskq/tasks"
)

// lineFields are the fields of a batch line, in the order they are checked
// and listed in messages.
var lineFields = []string{
	"type", "payload", "payload_base64", "queue", "delay", "at", "max_retry",
	"timeout", "deadline", "unique", "id", "retention", "headers", "traceparent",
}

// DecodeLine decodes one batch line: a JSON object with a "type", a
// "payload" (any JSON value, stored as its compact encoding) or a
// "payload_base64" (standard base64 of the payload bytes), and the options
// queue, delay, at, max_retry, timeout, deadline, unique, id, retention,
// headers and traceparent. Decoding is strict: unknown or duplicate fields,
// values of the wrong type, malformed durations and times, both delay and
// at, and a missing or invalid type are errors wrapping ErrBadInput that
// name the field; every problem of the line is reported, one per line of
// the error's text.
//
// A valid traceparent is returned in Options.Headers under
// tasks.HeaderTraceparent, where tasks.Client keeps it when the enqueue's
// context carries no span.
func DecodeLine(line []byte) (tasks.Request, error) {
	fields, err := splitObject(line)
	if err != nil {
		return tasks.Request{}, err
	}
	var (
		req  tasks.Request
		errs []error
		o    = &req.Options
	)
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var unknown []string
	for name := range fields {
		if !knownField(name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		add(unknownField(name))
	}

	if raw, ok := fields["type"]; ok {
		if s, err := jsonString("type", raw); err != nil {
			add(err)
		} else if err := tasks.ValidateType(s); err != nil {
			add(fmt.Errorf("type: %w", &inputError{msg: err.Error()}))
		} else {
			req.Type = s
		}
	} else {
		add(badValue("type", "missing; every line needs a task type such as \"email:send\""))
	}

	payload, hasPayload := fields["payload"]
	b64, hasB64 := fields["payload_base64"]
	switch {
	case hasPayload && hasB64:
		add(&inputError{msg: "payload and payload_base64 cannot be used together; pick one"})
	case hasPayload:
		var buf bytes.Buffer
		// The value was already scanned as valid JSON by splitObject.
		_ = json.Compact(&buf, payload)
		req.Payload = buf.Bytes()
	case hasB64:
		if s, err := jsonString("payload_base64", b64); err != nil {
			add(err)
		} else if p, err := base64.StdEncoding.DecodeString(s); err != nil {
			add(badValue("payload_base64", "not standard base64 (%v)", err))
		} else {
			req.Payload = p
		}
	}

	str := func(name string, check func(name, s string) error) (string, bool) {
		raw, ok := fields[name]
		if !ok {
			return "", false
		}
		s, err := jsonString(name, raw)
		if err == nil && check != nil {
			err = check(name, s)
		}
		if err != nil {
			add(err)
			return "", false
		}
		return s, true
	}
	if s, ok := str("queue", checkQueue); ok {
		o.Queue = s
	}
	if s, ok := str("delay", nil); ok {
		d, err := parseDelay("delay", s)
		add(err)
		o.ProcessIn = d
	}
	if s, ok := str("at", nil); ok {
		t, err := parseTime("at", s)
		add(err)
		o.ProcessAt = t
	}
	if _, ok := fields["delay"]; ok {
		if _, ok := fields["at"]; ok {
			add(&inputError{msg: "delay and at cannot be used together; pick one"})
		}
	}
	if raw, ok := fields["max_retry"]; ok {
		n, err := jsonCount("max_retry", raw)
		add(err)
		if err == nil {
			o.MaxRetry = &n
		}
	}
	if s, ok := str("timeout", nil); ok {
		d, err := parseSeconds("timeout", s)
		add(err)
		o.Timeout = d
	}
	if s, ok := str("deadline", nil); ok {
		t, err := parseTime("deadline", s)
		add(err)
		o.Deadline = t
	}
	if s, ok := str("unique", nil); ok {
		d, err := parseSeconds("unique", s)
		add(err)
		o.UniqueTTL = d
	}
	if s, ok := str("id", checkID); ok {
		o.TaskID = s
	}
	if s, ok := str("retention", nil); ok {
		d, err := parseSeconds("retention", s)
		add(err)
		o.Retention = d
	}
	if raw, ok := fields["headers"]; ok {
		h, err := jsonHeaders(raw)
		add(err)
		o.Headers = h
	}
	if s, ok := str("traceparent", parseTraceparent); ok {
		if o.Headers == nil {
			o.Headers = map[string]string{}
		}
		o.Headers[tasks.HeaderTraceparent] = s
	}
	if len(errs) > 0 {
		return tasks.Request{}, joinErrors(errs)
	}
	return req, nil
}

// knownField reports whether name is a field of a batch line.
func knownField(name string) bool {
	for _, f := range lineFields {
		if f == name {
			return true
		}
	}
	return false
}

// splitObject splits a JSON object into its fields, rejecting anything but
// one object, and fields that appear twice.
func splitObject(data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &inputError{msg: "the line is empty; want one JSON object"}
	}
	if json.Valid(data) {
		return scanObject(data)
	}
	// Invalid JSON: the decoder finds and describes the problem.
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &inputError{msg: `not a JSON object; want one object per line such as {"type":"email:send","payload":{}}`}
	}
	fields := map[string]json.RawMessage{}
	var dups []error
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, _ := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(err)
		}
		if _, dup := fields[key]; dup {
			dups = append(dups, badValue(key, "appears twice; give each field once"))
			continue
		}
		fields[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &inputError{msg: "unexpected data after the JSON object; put one object per line"}
	}
	if len(dups) > 0 {
		return nil, joinErrors(dups)
	}
	return fields, nil
}

// scanObject splits valid JSON into the fields of its top-level object,
// reporting every field given twice.
func scanObject(data []byte) (map[string]json.RawMessage, error) {
	members, ok := jsonscan.Members(data)
	if !ok {
		return nil, &inputError{msg: `not a JSON object; want one object per line such as {"type":"email:send","payload":{}}`}
	}
	fields := make(map[string]json.RawMessage, len(members))
	var dups []error
	for _, m := range members {
		if _, dup := fields[m.Name]; dup {
			dups = append(dups, badValue(m.Name, "appears twice; give each field once"))
			continue
		}
		fields[m.Name] = m.Value
	}
	if len(dups) > 0 {
		return nil, joinErrors(dups)
	}
	return fields, nil
}

// syntaxError describes malformed JSON.
func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &inputError{msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &inputError{msg: "invalid JSON: the object is not closed"}
	default:
		return &inputError{msg: fmt.Sprintf("invalid JSON: %v", err)}
	}
}

// jsonString decodes a JSON string.
func jsonString(name string, raw json.RawMessage) (string, error) {
	if raw[0] != '"' {
		return "", badValue(name, "expected a string, got %s", jsonscan.Kind(raw))
	}
	return jsonscan.Unquote(raw), nil
}

// jsonCount decodes a whole number of 0 or more.
func jsonCount(name string, raw json.RawMessage) (int, error) {
	var f float64
	if raw[0] == '"' || raw[0] == 't' || raw[0] == 'f' || raw[0] == 'n' || raw[0] == '{' || raw[0] == '[' {
		return 0, badValue(name, "expected a whole number of 0 or more, got %s", jsonscan.Kind(raw))
	}
	if json.Unmarshal(raw, &f) != nil || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, badValue(name, "expected a whole number of 0 or more, got %s", raw)
	}
	return int(f), nil
}

// jsonHeaders decodes an object of string values.
func jsonHeaders(raw json.RawMessage) (map[string]string, error) {
	if raw[0] != '{' {
		return nil, badValue("headers", "expected an object of strings, got %s", jsonscan.Kind(raw))
	}
	fields, err := splitObject(raw)
	if err != nil {
		return nil, &inputError{msg: "headers: " + strings.ReplaceAll(err.Error(), "\n", "\nheaders: ")}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := make(map[string]string, len(fields))
	var errs []error
	for _, k := range keys {
		if err := checkHeader("headers", k, `the "traceparent" field`); err != nil {
			errs = append(errs, err)
			continue
		}
		v, err := jsonString("headers."+k, fields[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h[k] = v
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return h, nil
}

// joinErrors joins errors into one, one per line, that still matches
// ErrBadInput.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &inputError{msg: strings.Join(msgs, "\n")}
}

// unknownField reports a field that is not a line field, suggesting the
// nearest one by edit distance when it is close, else listing them all.
func unknownField(name string) error {
	best, bestD := suggest.Closest(strings.ToLower(name), lineFields)
	if bestD >= 0 && bestD <= 2 && 2*bestD < len(name) {
		return &inputError{msg: fmt.Sprintf("unknown field %q (did you mean %q?)", name, best)}
	}
	return &inputError{msg: fmt.Sprintf("unknown field %q (fields: %s)", name, strings.Join(lineFields, ", "))}
}
