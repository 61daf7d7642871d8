// Package taskctx holds the values the worker puts into the context of
// every task and the tasks middleware reads back. It is plumbing between
// the worker and tasks.Instrument, kept out of the public API.
package taskctx

import (
	"context"
	"errors"
)

type stoppingKey struct{}

// WithStopping returns ctx carrying stopping, a channel the worker closes
// when it begins shutting down. A task whose context is then cancelled was
// handed back to Redis by the shutdown, not failed: asynq puts it back on
// its queue with its retry count unchanged and ignores the processor's
// error.
func WithStopping(ctx context.Context, stopping <-chan struct{}) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stopping)
}

// HandedBack reports whether ctx was cancelled because the worker began
// shutting down (see WithStopping), so the attempt's task went back to its
// queue rather than failing.
func HandedBack(ctx context.Context) bool {
	stopping, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	if stopping == nil || !errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	select {
	case <-stopping:
		return true
	default:
		return false
	}
}

type progressKey struct{}

// WithProgress returns ctx carrying report, the function tasks.Progress
// calls for the attempt (the worker's throttled progress writer).
func WithProgress(ctx context.Context, report func(pct float64, message string)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// Progress returns the progress function of ctx's attempt, nil outside
// one.
func Progress(ctx context.Context) func(pct float64, message string) {
	f, _ := ctx.Value(progressKey{}).(func(float64, string))
	return f
}
