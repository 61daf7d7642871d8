package worker

// This file publishes the worker's side of the live event log
// (internal/events): each attempt's "started" and final events, and the
// progress its processor reports (tasks.Progress).

import (
	"context"
	"sync"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/taskctx"
	"github.com/tuskq/tuskq/tasks"
)

// attemptKey is the context key of an attempt's *attempt.
type attemptKey struct{}

// attempt is one task attempt's event state: its progress tracker, made
// on the first report.
type attempt struct {
	ctx context.Context // the attempt's ctx, for the task's fields
	t   *asynq.Task
	pub *events.Publisher
	rdb func() goredis.UniversalClient

	mu sync.Mutex
	tr *events.Tracker
}

// report is tasks.Progress for the attempt.
func (a *attempt) report(pct float64, message string) {
	a.mu.Lock()
	if a.tr == nil {
		rdb := a.rdb()
		if rdb == nil {
			a.mu.Unlock()
			return
		}
		a.tr = events.NewTracker(rdb, a.pub, taskEvent(a.ctx, a.t, ""), 0)
	}
	tr := a.tr
	a.mu.Unlock()
	tr.Report(pct, message)
}

// finish writes the attempt's last progress report, if one is pending.
func (a *attempt) finish() {
	a.mu.Lock()
	tr := a.tr
	a.mu.Unlock()
	if tr != nil {
		tr.Finish()
	}
}

// eventsStart is the tasks.InstrumentOptions.OnStart of the worker: it
// publishes "started" (without waiting: the attempt's final event, which
// the worker waits for, is written after it) and gives the processor its
// progress function.
func (w *Worker) eventsStart(ctx context.Context, t *asynq.Task) context.Context {
	pub := w.events.Load()
	if pub.Enabled(ctx) {
		_ = pub.PublishAsync(ctx, taskEvent(ctx, t, events.KindStarted))
	}
	a := &attempt{ctx: ctx, t: t, pub: pub, rdb: w.client}
	ctx = context.WithValue(ctx, attemptKey{}, a)
	return taskctx.WithProgress(ctx, a.report)
}

// eventsEnd is the tasks.InstrumentOptions.OnEnd of the worker: it writes
// the last progress report and publishes the attempt's final events,
// waiting for them to be in Redis before asynq records the outcome (so
// the next attempt's "started" cannot come first).
func (w *Worker) eventsEnd(ctx context.Context, t *asynq.Task, outcome string, err error) {
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		a.finish()
	}
	pub := w.events.Load()
	if !pub.Enabled(ctx) {
		return
	}
	kinds := outcomeKinds(outcome)
	base := taskEvent(ctx, t, "")
	if err != nil && outcome != tasks.OutcomeSuccess && outcome != tasks.OutcomeRequeued {
		base.Error = err.Error()
	}
	wctx := context.WithoutCancel(ctx)
	for i, k := range kinds {
		ev := base
		ev.Kind = k
		if i < len(kinds)-1 {
			_ = pub.PublishAsync(wctx, ev)
			continue
		}
		// Best effort: an event Redis refuses does not fail the task.
		_ = pub.Publish(wctx, ev)
	}
}

// outcomeKinds are the events of an attempt's outcome (see events.Kind*).
func outcomeKinds(outcome string) []string {
	switch outcome {
	case tasks.OutcomeSuccess:
		return kindsSucceeded
	case tasks.OutcomeRetry:
		return kindsRetrying
	case tasks.OutcomeArchived, tasks.OutcomeSkipped:
		return kindsArchived
	case tasks.OutcomeCancelled:
		return kindsCancelled
	case tasks.OutcomeRevoked:
		return kindsFailed
	case tasks.OutcomeRequeued:
		return kindsRequeued
	case tasks.OutcomeDeferred:
		return kindsDeferred
	}
	return kindsFailed
}

var (
	kindsSucceeded = []string{events.KindSucceeded}
	kindsRetrying  = []string{events.KindFailed, events.KindRetrying}
	kindsArchived  = []string{events.KindFailed, events.KindArchived}
	kindsCancelled = []string{events.KindCancelled}
	kindsFailed    = []string{events.KindFailed}
	kindsRequeued  = []string{events.KindRequeued}
	kindsDeferred  = []string{events.KindDeferred}
)

// taskEvent returns the event of kind about the attempt of t running in
// ctx.
func taskEvent(ctx context.Context, t *asynq.Task, kind string) events.Event {
	ev := events.Event{Kind: kind, TaskType: t.Type()}
	ev.TaskID, _ = asynq.GetTaskID(ctx)
	ev.Queue, _ = asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	ev.Attempt = retried + 1
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		ev.TraceID = sc.TraceID().String()
	}
	if h := t.Headers(); len(h) > 0 {
		ev.WorkflowID, ev.Step = h[events.HeaderWorkflow], h[events.HeaderStep]
	}
	return ev
}
