// Package taskspec is the one definition of a task object: its fields,
// their bounds, and the checks every door applies to it. A task reaches
// tuskq through several doors (the enqueue CLI's flags and --batch JSON
// lines, the HTTP API's bodies, the routes of the configuration and the
// options of tasks.Client), and each door decodes its own syntax and then
// hands the values to this package, so that the same task gets the same
// verdict, and the same words, at every door.
//
// The package imports no tuskq package: config and tasks use it as well as
// the CLI and the HTTP API. Options mirrors tasks.EnqueueOptions field for
// field, so that one converts to the other.
//
// # Bounds
//
// The options get upper bounds, so that a typo ("8760d") does not schedule
// a task for decades or keep a lock for years:
//
//	delay       0 to 1 year (MaxDelay)
//	at          no later than 1 year from now
//	timeout     1s to 24h, whole seconds (MaxTimeout)
//	unique      1s to 30 days, whole seconds (MaxUniqueTTL), or until_end
//	unique_key  at most 200 bytes of printable UTF-8
//	retention   1s to 30 days, whole seconds (MaxRetention)
//	max_retry   0 to 2147483647 (asynq stores it in 32 bits)
//	type, id    at most 200 bytes of printable UTF-8
package taskspec

import (
	"errors"
	"math"
	"strings"
	"time"
)

// The fields of a task object, as JSON lines, HTTP bodies and error
// messages name them.
const (
	FieldType          = "type"
	FieldPayload       = "payload"
	FieldPayloadBase64 = "payload_base64"
	FieldQueue         = "queue"
	FieldDelay         = "delay"
	FieldAt            = "at"
	FieldMaxRetry      = "max_retry"
	FieldTimeout       = "timeout"
	FieldDeadline      = "deadline"
	FieldUnique        = "unique"
	FieldUniqueKey     = "unique_key"
	FieldID            = "id"
	FieldRetention     = "retention"
	FieldHeaders       = "headers"
	FieldTraceparent   = "traceparent"
)

// Fields are the fields of a task object, in the order messages list them.
var Fields = []string{
	FieldType, FieldPayload, FieldPayloadBase64, FieldQueue, FieldDelay, FieldAt, FieldMaxRetry,
	FieldTimeout, FieldDeadline, FieldUnique, FieldUniqueKey, FieldID, FieldRetention, FieldHeaders, FieldTraceparent,
}

// Bounds of a task object.
const (
	// MaxTypeLength is the longest task type, in bytes.
	MaxTypeLength = 200
	// MaxIDLength is the longest task ID, in bytes.
	MaxIDLength = 200
	// MaxUniqueKeyLength is the longest unique_key, in bytes.
	MaxUniqueKeyLength = 200
	// MaxRetry is the largest retry budget: asynq stores it as a 32-bit
	// integer, so a larger one would wrap around.
	MaxRetry = math.MaxInt32
	// MaxDelay bounds delay, and how far ahead at may be.
	MaxDelay = 365 * 24 * time.Hour
	// MaxTimeout bounds timeout, the limit of one attempt.
	MaxTimeout = 24 * time.Hour
	// MaxUniqueTTL bounds unique, how long an equal task is refused.
	MaxUniqueTTL = 30 * 24 * time.Hour
	// MaxRetention bounds retention, how long a completed task is kept.
	MaxRetention = 30 * 24 * time.Hour
)

// Header names under which the trace context travels with a task (the
// values of tasks.HeaderTraceparent and tasks.HeaderTracestate).
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// UniqueUntilEnd is the text of unique that makes a task unique until it
// ends rather than for a time.
const UniqueUntilEnd = "until_end"

// ErrInvalid is wrapped by Problems.
var ErrInvalid = errors.New("invalid task")

// Options are the options of a task object. The fields are those of
// tasks.EnqueueOptions, in the same order, so that a value of one type
// converts to the other.
type Options struct {
	Queue     string
	ProcessAt time.Time
	ProcessIn time.Duration
	MaxRetry  *int
	Timeout   time.Duration
	Deadline  time.Time
	UniqueTTL time.Duration
	UniqueKey string
	// UniqueUntilEnd is unique: until_end.
	UniqueUntilEnd bool
	TaskID         string
	Retention      time.Duration
	Headers        map[string]string
}

// Task is a decoded task object.
type Task struct {
	// Type is the task type.
	Type string
	// Payload is the compact JSON encoding of "payload", or the bytes of
	// "payload_base64"; nil when neither is given.
	Payload []byte
	// Options are the options. A traceparent given in the object is in
	// Options.Headers under HeaderTraceparent.
	Options Options
}

// Problem is one invalid field of a task object.
type Problem struct {
	// Field names the field as a task object does ("max_retry",
	// "headers.tenant"), after the decoder's prefix ("tasks[3].").
	Field string
	// Detail says what is wrong and what would be accepted.
	Detail string
	// Expected is what would be accepted, as a noun phrase, when the
	// problem is about a value's range or form; the configuration's
	// messages use it. Empty otherwise.
	Expected string
}

// Error formats the problem as "field: detail".
func (p Problem) Error() string { return p.Field + ": " + p.Detail }

// Problems are the problems of one task object; as an error it wraps
// ErrInvalid and lists one problem per line.
type Problems []Problem

// Error lists the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (ps Problems) Is(target error) bool { return target == ErrInvalid }

// Has reports whether a problem names field exactly (prefix included).
func (ps Problems) Has(field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}

// Err returns ps as an error, or nil when it is empty.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// flagNames are the enqueue CLI's flags of the fields that have one.
var flagNames = map[string]string{
	FieldType: "TYPE", FieldPayload: "PAYLOAD", FieldMaxRetry: "--max-retry", FieldHeaders: "--header",
}

// FlagName returns how the enqueue CLI names a field: its flag
// ("--max-retry"), or TYPE and PAYLOAD for the arguments.
func FlagName(field string) string {
	if n, ok := flagNames[field]; ok {
		return n
	}
	if rest, ok := strings.CutPrefix(field, FieldHeaders+"."); ok {
		return "--header " + rest
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

// goNames are the fields of tasks.EnqueueOptions.
var goNames = map[string]string{
	FieldQueue: "Queue", FieldDelay: "ProcessIn", FieldAt: "ProcessAt", FieldMaxRetry: "MaxRetry",
	FieldTimeout: "Timeout", FieldDeadline: "Deadline", FieldUnique: "UniqueTTL", FieldUniqueKey: "UniqueKey", FieldID: "TaskID",
	FieldRetention: "Retention", FieldHeaders: "Headers", FieldType: "type",
}

// GoName returns the field of tasks.EnqueueOptions that holds a field
// ("MaxRetry"), or the field itself when there is none.
func GoName(field string) string {
	if n, ok := goNames[field]; ok {
		return n
	}
	if rest, ok := strings.CutPrefix(field, FieldHeaders+"."); ok {
		return "Headers[" + rest + "]"
	}
	return field
}

// RouteKeys are the keys of a route in the configuration, by field.
var RouteKeys = map[string]string{
	FieldQueue: "queue", FieldMaxRetry: "max_retry", FieldTimeout: "timeout", FieldUnique: "unique_ttl",
}
