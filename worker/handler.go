package worker

import (
	"context"
	"log/slog"

	"github.com/hibiken/asynq"

	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	// Logger receives one line per task attempt and the panic lines. Nil
	// discards them.
	Logger *slog.Logger
	// LogPayloads adds the payload to the task lines (config log.payloads).
	LogPayloads bool
	// Metrics, when not nil, receives the tuskq_tasks_* counts.
	Metrics *tasks.Metrics
	// Middleware wraps the registry inside the tuskq middleware (inside
	// the panic recovery), first outermost.
	Middleware []tasks.Middleware
	// IsFailure is the asynq server's IsFailure (nil: every error is a
	// failure); the task line and metrics tell its non-failures apart
	// (tasks.OutcomeDeferred).
	IsFailure func(error) bool
	// Tracer, when set, makes a CONSUMER span per attempt (see
	// tasks.InstrumentOptions.TracerProvider).
	Tracer trace.TracerProvider
	// OnStart and OnEnd are tasks.InstrumentOptions.OnStart and OnEnd
	// (the worker's events and progress).
	OnStart func(context.Context, *asynq.Task) context.Context
	// OnEnd: see OnStart.
	OnEnd func(context.Context, *asynq.Task, string, error)
}

// NewHandler returns the processor a Worker serves: reg wrapped in the
// tuskq middleware (see the package documentation for the order). A task
// type counts under its own name in the metrics when reg has a processor
// for it, compiled in or resolved, and under tasks.UnregisteredLabel
// otherwise.
func NewHandler(reg *tasks.Registry, opts HandlerOptions) tasks.Processor {
	known := func(taskType string) bool {
		_, ok := reg.Lookup(taskType)
		return ok
	}
	mws := make([]tasks.Middleware, 0, 1+len(opts.Middleware))
	mws = append(mws, tasks.Instrument(tasks.InstrumentOptions{
		Context:    true,
		Logger:     opts.Logger,
		Log:        true,
		LogOptions: tasks.LogOptions{Payloads: opts.LogPayloads},
		Metrics:    opts.Metrics,
		Known:      known,
		Recover:    true,
		IsFailure:  opts.IsFailure,

		TracerProvider: opts.Tracer,
		OnStart:        opts.OnStart,
		OnEnd:          opts.OnEnd,
	}))
	mws = append(mws, opts.Middleware...)
	return tasks.Chain(reg, mws...)
}
