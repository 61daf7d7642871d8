package tasks

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The spans tuskq makes follow OpenTelemetry's messaging semantic
// conventions:
//
//   - one PRODUCER span per task enqueued ("send QUEUE"), by Enqueue and by
//     EnqueueMany alike (a bulk enqueue makes one span per task, children of
//     the caller's span, not one span per batch), whose context is the one
//     written into the task's traceparent header;
//   - one CONSUMER span per attempt on the worker ("process QUEUE"), a
//     child of the producer span (the conventions allow the creation
//     context as parent when a single message is processed) that also
//     links to it, as they require; a retry is a new attempt, so a new
//     span under the same producer span.
//
// messaging.system is "asynq": the tasks are asynq's, stored in asynq's
// Redis layout and readable by any asynq server, and the system attribute
// names the broker protocol rather than the library (the instrumentation
// scope, github.com/tuskq/tuskq/tasks, and service.name say it is tuskq).
// Payloads are never recorded, only their size.
const (
	// MessagingSystem is the messaging.system of tuskq's spans.
	MessagingSystem = "asynq"
	// TracerName is the instrumentation scope of tuskq's spans.
	TracerName = "github.com/tuskq/tuskq/tasks"
)

// Attribute keys of tuskq's spans beyond the messaging conventions.
const (
	// AttrTaskType is the task's type ("email:send").
	AttrTaskType = attribute.Key("tuskq.task.type")
	// AttrRetry is the number of retries before this attempt (0 on the
	// first).
	AttrRetry = attribute.Key("tuskq.task.retry")
	// AttrMaxRetry is the task's retry budget.
	AttrMaxRetry = attribute.Key("tuskq.task.max_retry")
	// AttrOutcome is the attempt's outcome: success, retry, archived,
	// revoked, requeued or deferred (see Outcome).
	AttrOutcome = attribute.Key("tuskq.task.outcome")
)

// Semantic convention keys used here (semconv v1.43.0's names).
const (
	keySystem      = attribute.Key("messaging.system")
	keyOpType      = attribute.Key("messaging.operation.type")
	keyOpName      = attribute.Key("messaging.operation.name")
	keyDestination = attribute.Key("messaging.destination.name")
	keyMessageID   = attribute.Key("messaging.message.id")
	keyBodySize    = attribute.Key("messaging.message.body.size")
	keyErrorType   = attribute.Key("error.type")
)

// newTracer returns the tracer of tp, or nil (no spans) when tp is nil.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName)
}

// startProducer starts the PRODUCER span of an enqueue to queue and writes
// its context into headers. The parent is ctx's span, else the
// traceparent already in headers, else none (a new trace); a traceparent
// in headers of another trace than ctx's span becomes a link.
func startProducer(ctx context.Context, tr trace.Tracer, typ, queue string, payloadSize int, headers map[string]string) trace.Span {
	var links []trace.Link
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() {
		ctx = ExtractTrace(ctx, headers)
	} else if hsc := trace.SpanContextFromContext(ExtractTrace(context.Background(), headers)); hsc.IsValid() && hsc.TraceID() != sc.TraceID() {
		// A traceparent of the task's own that ctx's span overrides
		// stays reachable as a link.
		links = []trace.Link{{SpanContext: hsc}}
	}
	if queue == "" {
		queue = "default"
	}
	ctx, span := tr.Start(ctx, "send "+queue,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			keySystem.String(MessagingSystem),
			keyOpType.String("send"),
			keyOpName.String("send"),
			keyDestination.String(queue),
			keyBodySize.Int(payloadSize),
			AttrTaskType.String(typ),
		))
	traceContext.Inject(ctx, propagation.MapCarrier(headers))
	return span
}

// endProducer ends an enqueue's span with the task ID and the error.
func endProducer(span trace.Span, id string, err error) {
	if span == nil {
		return
	}
	if id != "" {
		span.SetAttributes(keyMessageID.String(id))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(keyErrorType.String(errorType(err)))
	}
	span.End()
}

// startConsumer starts the CONSUMER span of one attempt of t, a child of
// (and linked to) the producer's context in parent, which ctx carries.
func startConsumer(ctx context.Context, tr trace.Tracer, t *asynq.Task) (context.Context, trace.Span) {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			keySystem.String(MessagingSystem),
			keyOpType.String("process"),
			keyOpName.String("process"),
			keyDestination.String(queue),
			keyMessageID.String(id),
			keyBodySize.Int(len(t.Payload())),
			AttrTaskType.String(t.Type()),
			AttrRetry.Int(retry),
			AttrMaxRetry.Int(maxRetry),
		),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return tr.Start(ctx, "process "+queue, opts...)
}

// endConsumer ends an attempt's span with its outcome and error.
func endConsumer(span trace.Span, outcome string, err error) {
	span.SetAttributes(AttrOutcome.String(outcome))
	if err != nil && outcome != OutcomeRequeued && outcome != OutcomeDeferred {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(keyErrorType.String(errorType(err)))
	}
	span.End()
}

// errorType is the error.type of err: its kind, never its text.
func errorType(err error) string {
	switch {
	case errors.Is(err, ErrBadOptions):
		return "bad_options"
	case errors.Is(err, asynq.ErrDuplicateTask):
		return "duplicate"
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return "task_id_conflict"
	case errors.Is(err, ErrEnqueueTimeout):
		return "enqueue_timeout"
	case errors.Is(err, ErrNotReplicated):
		return "not_replicated"
	case errors.Is(err, ErrPanic):
		return "panic"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "_OTHER"
}
