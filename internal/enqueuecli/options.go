package enqueuecli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.opentelemetry.io/otel/propagation"

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

// traceContext is the W3C Trace Context propagator (stateless).
var traceContext propagation.TraceContext

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
	if o.UniqueTTL == 0 && !o.UniqueUntilEnd && o.UniqueKey == "" {
		o.UniqueTTL, o.UniqueUntilEnd, o.UniqueKey = def.UniqueTTL, def.UniqueUntilEnd, def.UniqueKey
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
