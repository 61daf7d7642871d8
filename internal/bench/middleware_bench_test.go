package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// noop is the processor under the middleware.
func noop(context.Context, *asynq.Task) error { return nil }

// workerChain wraps p the way worker.New does (worker.NewHandler),
// logging JSON to io.Discard and counting on a fresh registry.
func workerChain(tb testing.TB, p tasks.Processor) tasks.Processor {
	tb.Helper()
	logger, metrics := benchLoggerMetrics(tb)
	reg := tasks.NewRegistry()
	if err := reg.Register(TaskType, p); err != nil {
		tb.Fatal(err)
	}
	return worker.NewHandler(reg, worker.HandlerOptions{Logger: logger, Metrics: metrics})
}

// separateChain is the chain of the four separate middlewares that
// worker.NewHandler's single tasks.Instrument replaces.
func separateChain(tb testing.TB, p tasks.Processor) tasks.Processor {
	tb.Helper()
	logger, metrics := benchLoggerMetrics(tb)
	return tasks.Chain(p,
		tasks.Context(),
		tasks.Log(logger, tasks.LogOptions{}),
		metrics.Middleware(nil),
		tasks.Recover(logger),
	)
}

func benchLoggerMetrics(tb testing.TB) (*slog.Logger, *tasks.Metrics) {
	tb.Helper()
	logger, err := logging.New(io.Discard, logging.Options{Format: logging.FormatJSON})
	if err != nil {
		tb.Fatal(err)
	}
	metrics, err := tasks.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return logger, metrics
}

// benchTask is a task as a tuskq producer makes it: with a traceparent.
func benchTask() *asynq.Task {
	headers := map[string]string{}
	tasks.InjectTrace(context.Background(), headers)
	return asynq.NewTaskWithHeaders(TaskType, []byte("{}"), headers)
}

// BenchmarkMiddlewareChain calls the no-op processor directly ("bare") and
// through the tuskq worker's middleware chain ("tuskq"): on one goroutine,
// from 50 goroutines at once ("-parallel", like concurrency 50), and on a
// new goroutine per call ("-goroutine"), as asynq runs each task, so that
// the goroutine's stack growth is counted too. The context carries no asynq
// task metadata, so task_id and queue are empty.
func BenchmarkMiddlewareChain(b *testing.B) {
	task := benchTask()
	ctx := b.Context()
	for _, c := range []struct {
		name string
		p    func(testing.TB) tasks.Processor
	}{
		{"bare", func(testing.TB) tasks.Processor { return tasks.ProcessorFunc(noop) }},
		{"tuskq", func(tb testing.TB) tasks.Processor { return workerChain(tb, tasks.ProcessorFunc(noop)) }},
		{"separate", func(tb testing.TB) tasks.Processor { return separateChain(tb, tasks.ProcessorFunc(noop)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.p(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.ProcessTask(ctx, task); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-goroutine", func(b *testing.B) {
			p := c.p(b)
			b.ReportAllocs()
			errs := make(chan error)
			for b.Loop() {
				go func() { errs <- p.ProcessTask(ctx, task) }()
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			p := c.p(b)
			b.ReportAllocs()
			b.SetParallelism(25) // 50 goroutines on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.ProcessTask(ctx, task); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
