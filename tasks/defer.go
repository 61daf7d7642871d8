package tasks

import (
	"errors"
	"fmt"
	"time"
)

// Reasons a task attempt is deferred, as logged (the "reason" attribute of
// the "task deferred" line) and counted (the reason label of
// tuskq_tasks_deferred_total).
const (
	// ReasonRate: a rate limit of the fleet had no start left for the task.
	ReasonRate = "rate"
	// ReasonConcurrency: a concurrency limit of the fleet had no free slot.
	ReasonConcurrency = "concurrency"
	// ReasonSnooze: the processor returned Snooze.
	ReasonSnooze = "snooze"
	// ReasonRateLimited: the processor returned RateLimited (a remote
	// service asked it to slow down).
	ReasonRateLimited = "rate_limited"
	// ReasonNotFailure: the worker's IsFailure did not count the error (a
	// task of a disabled plugin, say).
	ReasonNotFailure = "not_failure"
)

// ErrDeferred is wrapped by every *DeferError: a task attempt that ended
// without running, or asked to run again later, charged no retry and not
// counted as failed.
var ErrDeferred = errors.New("task deferred")

// DeferError is the error of an attempt that is deferred rather than
// failed: a tuskq worker moves the task back to its queue's scheduled set,
// to run again at After from now (rounded up to the next whole second, the
// precision of asynq's schedule), with its retry count unchanged, and logs
// the attempt with outcome "deferred". Processors create one with Snooze or
// RateLimited; the worker's limits create the others.
type DeferError struct {
	// After is how long the task waits before it runs again (at least one
	// second is used when it is shorter).
	After time.Duration
	// Reason is one of the Reason constants.
	Reason string
	// Limit names the fleet limit that deferred the task; empty for a
	// processor's own deferral.
	Limit string
}

// Error describes the deferral.
func (e *DeferError) Error() string {
	if e.Limit != "" {
		return fmt.Sprintf("task deferred by limit %q (%s) for %s", e.Limit, e.Reason, e.After)
	}
	return fmt.Sprintf("task deferred (%s) for %s", e.Reason, e.After)
}

// Unwrap makes errors.Is(err, ErrDeferred) true.
func (e *DeferError) Unwrap() error { return ErrDeferred }

// Snooze returns the error a processor returns to run its task again after
// d, without charging a retry and without counting the attempt as failed:
// the task goes back to its queue's scheduled set with its retry count
// unchanged. Use it when the task is fine but cannot proceed yet (a
// resource is not ready, a dependency is still running). d below one
// second is treated as one second.
func Snooze(d time.Duration) error {
	return &DeferError{After: max(d, 0), Reason: ReasonSnooze}
}

// RateLimited returns the error a processor returns when the service it
// calls asked it to slow down (an HTTP 429 or 503 with Retry-After, say):
// the task runs again after retryAfter, without charging a retry and
// without counting the attempt as failed. retryAfter below one second is
// treated as one second.
func RateLimited(retryAfter time.Duration) error {
	return &DeferError{After: max(retryAfter, 0), Reason: ReasonRateLimited}
}

// Deferral returns the *DeferError in err's chain, if any.
func Deferral(err error) (*DeferError, bool) {
	var d *DeferError
	if errors.As(err, &d) {
		return d, true
	}
	return nil, false
}
