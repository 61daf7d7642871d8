package tasks

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/logging"
)

// discardExporter drops every span: the benchmarks measure the SDK's cost
// in the process (spans made, sampled, batched), not a network.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTaskTracing measures what tracing adds to one task's life in
// the process, without Redis: the producer's part of an enqueue (routing,
// options, trace headers, the task record; with tracing, the PRODUCER
// span) and one attempt through the worker's full middleware (trace
// context, a JSON log line to io.Discard, Prometheus metrics, panic
// recovery; with tracing, the CONSUMER span). "off" is the default: no
// TracerProvider. "always" samples every trace (parentbased_always_on, the
// SDK default), "ratio_1pct" one new trace in a hundred
// (parentbased_traceidratio 0.01); both batch the spans to an exporter
// that drops them.
//
//	go test -run '^$' -bench BenchmarkTaskTracing -benchmem ./tasks/
func BenchmarkTaskTracing(b *testing.B) {
	cases := []struct {
		name    string
		sampler sdktrace.Sampler // nil: tracing off
	}{
		{"off", nil},
		{"always", sdktrace.ParentBased(sdktrace.AlwaysSample())},
		{"ratio_1pct", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var tp trace.TracerProvider
			if tc.sampler != nil {
				sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler), sdktrace.WithBatcher(discardExporter{}))
				b.Cleanup(func() { _ = sdk.Shutdown(context.WithoutCancel(b.Context())) })
				tp = sdk
			}
			c, err := NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, ClientOptions{TracerProvider: tp})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			logger, err := logging.New(io.Discard, logging.Options{Level: slog.LevelInfo})
			if err != nil {
				b.Fatal(err)
			}
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			handler := Instrument(InstrumentOptions{
				Context: true, Logger: logger, Log: true, Metrics: m, Recover: true, TracerProvider: tp,
			})(ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
			ctx := b.Context()
			payload := []byte(`{"to":"someone@example.com","template":"welcome"}`)
			var rnd randBuffer
			b.ReportAllocs()
			for b.Loop() {
				r, err := c.prepare(ctx, "email:send", payload, nil, rnd.fill)
				if err != nil {
					b.Fatal(err)
				}
				w := r.wire(time.Now(), rnd.fill)
				endProducer(w.span, w.id, nil)
				if err := handler.ProcessTask(ctx, asynq.NewTaskWithHeaders("email:send", payload, r.headers)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
