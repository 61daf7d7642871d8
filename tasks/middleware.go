package tasks

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/taskctx"
)

// Middleware wraps a Processor with cross-cutting behaviour.
type Middleware func(Processor) Processor

// Chain wraps p in the middlewares, the first outermost.
func Chain(p Processor, mws ...Middleware) Processor {
	for i := len(mws) - 1; i >= 0; i-- {
		p = mws[i](p)
	}
	return p
}

// ErrPanic is wrapped by the error of a task whose processor panicked. The
// attempt fails and the task follows the retry path.
var ErrPanic = errors.New("processor panicked")

// Recover turns a panic in the processor into a failed attempt: it logs the
// panic value with its stack at error level and returns an error wrapping
// ErrPanic, so the task is retried like any failure. It is Instrument with
// only Recover set.
func Recover(logger *slog.Logger) Middleware {
	return Instrument(InstrumentOptions{Recover: true, Logger: logger})
}

// Context puts the task's trace context (from its traceparent header; a new
// trace when the task carries none or an invalid one) and its ID, type,
// queue and retry count into ctx, so every log line written with
// slog.*Context(ctx, …) by later middleware and by the processor carries
// trace_id, span_id, task_id, task_type, queue and retry, and tasks
// enqueued and requests sent with ctx carry the trace on. It is Instrument
// with only Context set.
func Context() Middleware {
	return Instrument(InstrumentOptions{Context: true})
}

// Outcomes of a task attempt, as logged and counted.
const (
	OutcomeSuccess   = "success"   // done
	OutcomeRetry     = "retry"     // failed, will be retried
	OutcomeArchived  = "archived"  // failed, retries used up
	OutcomeSkipped   = "skipped"   // ended by its processor with asynq.SkipRetry: archived, no retry, no failure
	OutcomeCancelled = "cancelled" // cancelled on request (ErrCancelled): archived or deleted, never retried
	OutcomeRevoked   = "revoked"   // failed with asynq.RevokeTask: dropped
	OutcomeRequeued  = "requeued"  // cut off by a worker shutdown and handed back to Redis
	OutcomeDeferred  = "deferred"  // a *DeferError (Snooze, RateLimited, a fleet limit), or an error that is no failure (InstrumentOptions.IsFailure): runs again without using a retry
)

// Outcome classifies the result of an attempt the way asynq will treat it,
// counting every error as a failure.
func Outcome(ctx context.Context, err error) string { return outcome(ctx, err, nil) }

// outcome is Outcome with asynq's IsFailure function (nil: every error is
// a failure). asynq archives a task whose retries are used up before it
// asks IsFailure, so a non-failure is deferred only while retries remain.
func outcome(ctx context.Context, err error, isFailure func(error) bool) string {
	if err == nil {
		return OutcomeSuccess
	}
	if errors.Is(err, ErrCancelled) {
		return OutcomeCancelled
	}
	if errors.Is(err, asynq.RevokeTask) {
		return OutcomeRevoked
	}
	if taskctx.HandedBack(ctx) {
		return OutcomeRequeued
	}
	// A *DeferError is moved back to the scheduled set by the worker
	// without going through asynq's retry path, whatever retries remain.
	if _, ok := Deferral(err); ok {
		return OutcomeDeferred
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if errors.Is(err, asynq.SkipRetry) {
		return OutcomeSkipped
	}
	if retried >= maxRetry {
		return OutcomeArchived
	}
	if isFailure != nil && !isFailure(err) {
		return OutcomeDeferred
	}
	return OutcomeRetry
}

// ErrCancelled is wrapped by the error of an attempt cancelled on request
// (the worker's cancellation by queue and ID, asynq's cancel channel):
// its outcome is OutcomeCancelled, and the worker archives the task with
// the error "cancelled" or deletes it, never retrying it.
var ErrCancelled = errors.New("cancelled")

// LogOptions configures the Log middleware.
type LogOptions struct {
	// Payloads adds the payload to the line; off by default because
	// payloads often hold personal data or secrets.
	Payloads bool
}

// Log writes one line per finished attempt: "task done" at info level,
// "task handed back" at info level when a shutdown returned it to Redis, or
// "task failed" at warn (will retry) or error (archived) level, with
// duration_ms, outcome and error. The task attributes come from the context
// (see Context). It is Instrument with only Log set.
func Log(logger *slog.Logger, opts LogOptions) Middleware {
	return Instrument(InstrumentOptions{Log: true, Logger: logger, LogOptions: opts})
}
