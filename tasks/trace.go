package tasks

import (
	"context"
	"crypto/rand"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Header names under which the trace context travels with a task.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// traceContext is the W3C Trace Context propagator. It is stateless, so one
// value serves every goroutine.
var traceContext propagation.TraceContext

// randFunc fills b with random bytes.
type randFunc func(b []byte)

// cryptoRand fills b from crypto/rand.
func cryptoRand(b []byte) { _, _ = rand.Read(b) }

// ensureTrace returns ctx carrying a valid span context: the caller's if it
// has one, otherwise a new root with trace and span IDs drawn from rnd. The
// new root is marked sampled, so a tracer on the worker side that samples
// by parent records the task's spans.
func ensureTrace(ctx context.Context, rnd randFunc) (context.Context, trace.SpanContext) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return ctx, sc
	}
	var ids [24]byte
	rnd(ids[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID(ids[:16]),
		SpanID:     trace.SpanID(ids[16:]),
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(ctx, sc), sc
}

// InjectTrace writes the trace context of ctx into headers as W3C traceparent
// (and tracestate when present) and returns the trace ID written. When ctx
// has no span context, a valid traceparent already in headers is kept;
// otherwise a new trace is started.
func InjectTrace(ctx context.Context, headers map[string]string) trace.TraceID {
	return injectTrace(ctx, headers, cryptoRand)
}

// injectTrace is InjectTrace drawing new IDs from rnd.
func injectTrace(ctx context.Context, headers map[string]string, rnd randFunc) trace.TraceID {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = ExtractTrace(ctx, headers)
	}
	ctx, sc := ensureTrace(ctx, rnd)
	traceContext.Inject(ctx, propagation.MapCarrier(headers))
	return sc.TraceID()
}

// ExtractTrace returns ctx carrying the remote span context found in a
// task's headers; ctx is returned unchanged when the headers carry none or
// an invalid one.
func ExtractTrace(ctx context.Context, headers map[string]string) context.Context {
	if headers[HeaderTraceparent] == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier(headers))
}

// TraceIDFromHeaders returns the trace ID in a task's traceparent header, or
// "" when there is none.
func TraceIDFromHeaders(headers map[string]string) string {
	sc := trace.SpanContextFromContext(ExtractTrace(context.Background(), headers))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
