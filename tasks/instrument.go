package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/stackgrow"
	"github.com/tuskq/tuskq/logging"
)

// InstrumentOptions selects what Instrument does around each task attempt.
// Each field switches on what one of the separate middlewares does; all of
// them together are what a tuskq worker runs.
type InstrumentOptions struct {
	// Context puts the trace context and the task fields into ctx, as
	// Context does.
	Context bool
	// Logger receives the line per finished attempt (when Log is set) and
	// the panic line (when Recover is set). Nil discards them.
	Logger *slog.Logger
	// Log writes one line per finished attempt, as Log does.
	Log bool
	// LogOptions configures that line.
	LogOptions LogOptions
	// Metrics, when not nil, counts attempts as Metrics.Middleware does,
	// with Known deciding which types are counted under their own name.
	Metrics *Metrics
	// Known reports whether a task type has a processor; other types are
	// counted under UnregisteredLabel. Nil counts every type under its own
	// name.
	Known func(taskType string) bool
	// Recover turns a panic into a failed attempt, as Recover does.
	Recover bool
	// IsFailure is the asynq server's IsFailure function (nil: every error
	// is a failure). An error it does not count (a task of a disabled
	// plugin, say) is logged as "task deferred" at info level with outcome
	// deferred and counted in tuskq_tasks_deferred_total, not as a failure.
	IsFailure func(error) bool
	// TracerProvider, when set (with Context), makes one CONSUMER span per
	// attempt, "process QUEUE", a child of the task's traceparent (the
	// enqueue's PRODUCER span) and linked to it, with the task's ID, type,
	// queue, retry count, payload size and outcome, and an error status
	// when the attempt failed. The processor's ctx carries the span, so
	// its log lines carry its span_id and what it calls (webhooks, child
	// tasks) hangs under it. Nil (the default) makes no span.
	TracerProvider trace.TracerProvider
	// OnStart, when set, is called before the processor runs with the
	// attempt's ctx (carrying the task fields and trace, with Context);
	// the processor runs with the ctx it returns. The worker publishes the
	// "started" event here.
	OnStart func(ctx context.Context, t *asynq.Task) context.Context
	// OnEnd, when set, is called once the processor returned (or
	// panicked, with Recover), before the outcome goes back to asynq, with
	// OnStart's ctx, the outcome (an Outcome constant) and the error. The
	// worker publishes the attempt's final events here.
	OnEnd func(ctx context.Context, t *asynq.Task, outcome string, err error)
}

// Instrument returns one middleware doing, in a single frame, what the
// chain Context, Log, Metrics.Middleware, Recover does (each part only when
// switched on in opts), with the same log lines, fields, outcomes and
// metrics:
//
//	tasks.Instrument(tasks.InstrumentOptions{
//		Context: true, Logger: logger, Log: true, Metrics: m, Known: known, Recover: true,
//	})
//
// behaves as
//
//	tasks.Chain(next, tasks.Context(), tasks.Log(logger, tasks.LogOptions{}),
//		m.Middleware(known), tasks.Recover(logger))
//
// but is cheaper per task: it reads the clock twice rather than five
// times, reads the task's metadata and classifies the outcome once, looks
// the metric series up in a cache rather than hashing label values, and
// writes the log line straight to the logger's handler. The separate
// middlewares are this one with a single part switched on.
//
// With logging or metrics on, it first grows the goroutine's stack in one
// step (see internal/stackgrow): asynq runs every task on a new goroutine, whose
// small initial stack would otherwise be grown and copied several times
// per task while the log line is formatted, which costs more CPU than the
// middleware's own work.
func Instrument(opts InstrumentOptions) Middleware {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := instrument{
		context:   opts.Context,
		log:       opts.Log,
		payloads:  opts.LogOptions.Payloads,
		recover:   opts.Recover,
		logger:    logger,
		metrics:   opts.Metrics,
		known:     opts.Known,
		isFailure: opts.IsFailure,
		grow:      opts.Log || opts.Metrics != nil,
		pc:        logPC(),
		onStart:   opts.OnStart,
		onEnd:     opts.OnEnd,
	}
	if opts.Context {
		in.tracer = newTracer(opts.TracerProvider)
	}
	return func(next Processor) Processor {
		p := in
		p.next = next
		return &p
	}
}

// instrument is the Processor Instrument returns.
type instrument struct {
	next     Processor
	context  bool
	log      bool
	payloads bool
	recover  bool
	grow     bool
	logger   *slog.Logger
	metrics  *Metrics
	known    func(string) bool
	// isFailure is InstrumentOptions.IsFailure.
	isFailure func(error) bool
	pc        uintptr      // the source position of the task line
	tracer    trace.Tracer // makes the CONSUMER spans; nil: none
	onStart   func(context.Context, *asynq.Task) context.Context
	onEnd     func(context.Context, *asynq.Task, string, error)
}

// ProcessTask runs one attempt of t through the switched-on parts.
func (in *instrument) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	if in.grow {
		stackgrow.Grow()
	}
	typ := t.Type()
	var queue string
	if in.context {
		ctx = ExtractTrace(ctx, t.Headers())
		if in.tracer != nil {
			// The attempt's span: a child of the producer's, or a new
			// trace's root when the task carries none.
			var span trace.Span
			ctx, span = startConsumer(ctx, in.tracer, t)
			defer func() { endConsumer(span, outcome(ctx, err, in.isFailure), err) }()
		} else {
			// A task enqueued without a trace context (a plain asynq
			// client, a producer in another language, asynqmon's "run
			// again") starts a trace of its own here, so that every line
			// about it carries a trace_id and what it calls (webhooks,
			// child tasks) carries the trace on.
			ctx, _ = ensureTrace(ctx, cryptoRand)
		}
		f := logging.TaskFields{Type: typ}
		f.ID, _ = asynq.GetTaskID(ctx)
		f.Queue, _ = asynq.GetQueueName(ctx)
		f.Retry, _ = asynq.GetRetryCount(ctx)
		// A periodic task's lines name its schedule.
		f.Schedule = t.Headers()[headerSchedule]
		queue = f.Queue
		ctx = logging.WithTask(ctx, f)
	} else if in.metrics != nil {
		queue, _ = asynq.GetQueueName(ctx)
	}
	if in.onStart != nil {
		ctx = in.onStart(ctx, t)
	}
	if !in.log && in.metrics == nil && in.onEnd == nil {
		err = in.call(ctx, t)
		return err
	}

	var s *series
	if in.metrics != nil {
		label := typ
		if in.known != nil && !in.known(typ) {
			label = UnregisteredLabel
		}
		s = in.metrics.series(label, queue)
		s.inFlight.Inc()
	}
	start := time.Now()
	err = in.call(ctx, t)
	end := time.Now()
	elapsed := end.Sub(start)
	outcome := outcome(ctx, err, in.isFailure)
	if s != nil {
		s.finish(in.metrics, elapsed, outcome, err)
		if s.sink != nil {
			s.sink.Finish(ctx, elapsed, outcome, err)
		}
	}
	if in.log {
		in.logLine(ctx, t, end, elapsed, outcome, err)
	}
	if in.onEnd != nil {
		in.onEnd(ctx, t, outcome, err)
	}
	return err
}

// call runs the next processor, turning a panic into an error when
// recover is on.
func (in *instrument) call(ctx context.Context, t *asynq.Task) (err error) {
	if in.recover {
		defer func() {
			if v := recover(); v != nil {
				err = in.panicked(ctx, v)
			}
		}()
	}
	return in.next.ProcessTask(ctx, t)
}

// panicked logs a recovered panic with its stack and returns the attempt's
// error.
func (in *instrument) panicked(ctx context.Context, v any) error {
	in.logger.ErrorContext(ctx, "task processor panicked",
		"panic", fmt.Sprint(v),
		"stack", string(debug.Stack()))
	return fmt.Errorf("tasks: %w: %v", ErrPanic, v)
}

// logLine writes the line of a finished attempt: "task done" (info),
// "task handed back" (info), "task deferred" (info: an error that is no
// failure), or "task failed" (warn when it will be retried, error
// otherwise).
func (in *instrument) logLine(ctx context.Context, t *asynq.Task, at time.Time, elapsed time.Duration, outcome string, err error) {
	level, msg := slog.LevelInfo, "task done"
	switch outcome {
	case OutcomeSuccess:
	case OutcomeRequeued:
		msg = "task handed back"
	case OutcomeDeferred:
		msg = "task deferred"
	case OutcomeCancelled:
		msg = "task cancelled"
	case OutcomeSkipped:
		level, msg = slog.LevelWarn, "task ended without retry"
	case OutcomeRetry:
		level, msg = slog.LevelWarn, "task failed"
	default:
		level, msg = slog.LevelError, "task failed"
	}
	h := in.logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(at, level, msg, in.pc)
	ms := float64(elapsed.Microseconds()) / 1000
	payload := logging.PayloadAttr(t.Payload(), in.payloads)
	d, deferred := Deferral(err)
	switch {
	case deferred:
		// A limit's or a processor's deferral: the limit, the reason and
		// when it runs again instead of an error.
		r.AddAttrs(slog.Float64("duration_ms", ms), slog.String("outcome", outcome),
			slog.String("reason", d.Reason), slog.Float64("after_s", d.After.Seconds()))
		if d.Limit != "" {
			r.AddAttrs(slog.String("limit", d.Limit))
		}
		r.AddAttrs(payload)
	case err != nil && outcome != OutcomeRequeued:
		r.AddAttrs(slog.Float64("duration_ms", ms), slog.String("outcome", outcome),
			slog.Any("error", err), payload)
	default:
		r.AddAttrs(slog.Float64("duration_ms", ms), slog.String("outcome", outcome), payload)
	}
	// A handler error has nowhere to go: slog.Logger drops it too.
	_ = h.Handle(ctx, r)
}

// logPC returns a program counter inside this file, the source position
// reported for the task line by handlers with AddSource. It is taken once,
// so that the line does not pay for runtime.Callers on every task.
func logPC() uintptr {
	var pcs [1]uintptr
	runtime.Callers(1, pcs[:])
	return pcs[0]
}

// headerSchedule is the header naming the schedule that enqueued a task
// (internal/schedule.HeaderSchedule).
const headerSchedule = "tuskq-schedule"
