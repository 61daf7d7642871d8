package enqueuecli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// ErrBadInput is wrapped by every error about a flag value, an argument or a
// batch line.
var ErrBadInput = errors.New("bad input")

// badValue returns an error wrapping ErrBadInput that reads "name: msg".
func badValue(name, format string, args ...any) error {
	return fmt.Errorf("%s: %w", name, &inputError{msg: fmt.Sprintf(format, args...)})
}

// inputError is a bad value; it matches ErrBadInput.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrBadInput }

// parseDelay parses a delay: a Go duration that is not negative.
func parseDelay(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badValue(name, "%q is not a duration; use Go syntax such as 30s or 1h30m", s)
	}
	if d < 0 {
		return 0, badValue(name, "%q is negative; use a delay of 0s or more", s)
	}
	return d, nil
}

// parseTimeout parses a positive Go duration.
func parseTimeout(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badValue(name, "%q is not a duration; use Go syntax such as 30s or 1h30m", s)
	}
	if d <= 0 {
		return 0, badValue(name, "%q is not positive; use for example 30s", s)
	}
	return d, nil
}

// parseSeconds parses a duration that asynq stores in whole seconds
// (timeout, unique, retention): at least 1s and a whole number of seconds,
// so that nothing is silently truncated.
func parseSeconds(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badValue(name, "%q is not a duration; use Go syntax such as 30s or 1h30m", s)
	}
	if d < time.Second {
		return 0, badValue(name, "%q is less than 1s; use 1s or more", s)
	}
	if d%time.Second != 0 {
		return 0, badValue(name, "%q is not a whole number of seconds (asynq stores seconds); use for example %s", s, d.Round(time.Second))
	}
	return d, nil
}

// parseTime parses an RFC 3339 time.
func parseTime(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badValue(name, "%q is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00", s)
	}
	return t, nil
}

// parseMaxRetry parses a retry budget from a flag.
func parseMaxRetry(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badValue(name, "%q is not a whole number of 0 or more", s)
	}
	return n, nil
}

// checkQueue rejects a blank queue name.
func checkQueue(name, s string) error {
	if strings.TrimSpace(s) == "" {
		return badValue(name, "the queue name is empty; name a queue such as default")
	}
	return nil
}

// checkID rejects a blank task ID.
func checkID(name, s string) error {
	if strings.TrimSpace(s) == "" {
		return badValue(name, "the task ID is empty; leave it out to get a generated one")
	}
	return nil
}

// checkHeader rejects an empty header name and the trace headers, which are
// set from the trace context (given by traceOption).
func checkHeader(name, key, traceOption string) error {
	switch strings.ToLower(key) {
	case "":
		return badValue(name, "a header name is empty")
	case tasks.HeaderTraceparent, tasks.HeaderTracestate:
		return badValue(name, "%q is set from the trace context; use %s instead of a header", key, traceOption)
	}
	return nil
}

// parseHeaderFlag parses one --header value, key=value.
func parseHeaderFlag(name, kv string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return "", "", badValue(name, "%q is not key=value", kv)
	}
	if err := checkHeader(name, k, "--traceparent"); err != nil {
		return "", "", err
	}
	return k, v, nil
}

// traceContext is the W3C Trace Context propagator (stateless).
var traceContext propagation.TraceContext

// parseTraceparent checks a W3C traceparent with the OpenTelemetry
// propagator.
func parseTraceparent(name, s string) error {
	if !traceSpan(s).IsValid() {
		return badValue(name, "%q is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>", s)
	}
	return nil
}

// traceSpan returns the span context of a traceparent (invalid when s is
// not a valid traceparent).
func traceSpan(s string) trace.SpanContext {
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{tasks.HeaderTraceparent: s})
	return trace.SpanContextFromContext(ctx)
}

// withTraceparent returns ctx continuing the trace of traceparent tp, or ctx
// itself when tp is empty. tp must have been checked.
func withTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{tasks.HeaderTraceparent: tp})
}

// defaults are the option flags of a batch run, applied to every line that
// does not set the option itself.
type defaults struct {
	opts        tasks.EnqueueOptions
	traceparent string
}

// apply fills the unset options of req from d. A line that sets delay or at
// takes neither from d; headers are merged, the line's winning.
func (d defaults) apply(req *tasks.Request) {
	o, def := &req.Options, d.opts
	if o.Queue == "" {
		o.Queue = def.Queue
	}
	if o.ProcessAt.IsZero() && o.ProcessIn == 0 {
		o.ProcessAt, o.ProcessIn = def.ProcessAt, def.ProcessIn
	}
	if o.MaxRetry == nil {
		o.MaxRetry = def.MaxRetry
	}
	if o.Timeout == 0 {
		o.Timeout = def.Timeout
	}
	if o.Deadline.IsZero() {
		o.Deadline = def.Deadline
	}
	if o.UniqueTTL == 0 {
		o.UniqueTTL = def.UniqueTTL
	}
	if o.TaskID == "" {
		o.TaskID = def.TaskID
	}
	if o.Retention == 0 {
		o.Retention = def.Retention
	}
	if len(def.Headers) > 0 {
		h := maps.Clone(def.Headers)
		maps.Copy(h, o.Headers)
		o.Headers = h
	}
	if d.traceparent != "" {
		if _, ok := o.Headers[tasks.HeaderTraceparent]; !ok {
			if o.Headers == nil {
				o.Headers = map[string]string{}
			}
			o.Headers[tasks.HeaderTraceparent] = d.traceparent
		}
	}
}
