package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// TaskType is the type of every task the benchmark enqueues.
const TaskType = "bench:noop"

// stopTimeout bounds starting and stopping a target.
const stopTimeout = 30 * time.Second

// Handler is called by a target for every task it processes.
type Handler func(ctx context.Context, t *asynq.Task) error

// StopFunc stops a started target and waits, for a bounded time, until it
// has stopped.
type StopFunc func() error

// Target is a task-processing server under test. Issue-specific
// comparisons (poll intervals, several servers per process, tuned clients)
// are new Targets; the phases treat them all alike.
type Target struct {
	// Key identifies the target in JSON output and profile file names
	// (lower-case letters, digits and dashes).
	Key string
	// Name is shown in the report.
	Name string
	// Start starts processing tasks of TaskType from the Redis at addr,
	// calling h for each, and returns once processing has started.
	Start func(ctx context.Context, addr string, h Handler) (StopFunc, error)
}

var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// check reports a target that cannot run.
func (t Target) check() error {
	if !keyRE.MatchString(t.Key) {
		return fmt.Errorf("target %q: key %q must be lower-case letters, digits and dashes", t.Name, t.Key)
	}
	if t.Start == nil {
		return fmt.Errorf("target %q: Start is nil", t.Key)
	}
	return nil
}

// BareAsynq is a plain asynq server with cfg (asynq's defaults for every
// zero field) and the handler as its only handler. A nil cfg.Logger is
// replaced by one that discards, so that asynq's start and stop lines do
// not interleave with the report; asynq logs nothing per task.
func BareAsynq(key, name string, cfg asynq.Config) Target {
	return Target{Key: key, Name: name, Start: func(_ context.Context, addr string, h Handler) (StopFunc, error) {
		c := cfg
		if c.Logger == nil {
			c.Logger = logging.NewAsynqLogger(slog.New(slog.DiscardHandler))
		}
		srv := asynq.NewServer(asynq.RedisClientOpt{Addr: addr}, c)
		if err := srv.Start(asynq.HandlerFunc(h)); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		return func() error {
			done := make(chan struct{})
			go func() {
				srv.Shutdown()
				close(done)
			}()
			select {
			case <-done:
				return nil
			case <-time.After(stopTimeout):
				return fmt.Errorf("%w: %s did not shut down within %s", ErrTimeout, name, stopTimeout)
			}
		}, nil
	}}
}

// TuskqWorker is the tuskq worker runtime (package worker) built from cfg,
// with the handler registered for TaskType, its full middleware (trace
// context, a JSON log line per task written to io.Discard, metrics on a
// fresh Prometheus registry, panic recovery) and cfg.Redis.Addr replaced
// by the benchmark's Redis.
func TuskqWorker(key, name string, cfg config.Config) Target {
	return Target{Key: key, Name: name, Start: func(ctx context.Context, addr string, h Handler) (StopFunc, error) {
		c := cfg
		c.Redis.Addr = addr
		logger, err := logging.New(io.Discard, logging.Options{Format: logging.FormatJSON})
		if err != nil {
			return nil, err
		}
		reg := tasks.NewRegistry()
		if err := reg.Register(TaskType, tasks.ProcessorFunc(h)); err != nil {
			return nil, err
		}
		w, err := worker.New(worker.Options{Config: c, Logger: logger, Registry: reg, Registerer: prometheus.NewRegistry()})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		// The worker's life is bounded by stop, not by the phase's ctx, so
		// that an interrupted run still shuts it down in order.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		ran := make(chan error, 1)
		go func() { ran <- w.Run(wctx) }()
		stop := func() error {
			cancel()
			select {
			case err := <-ran:
				return err
			case <-time.After(stopTimeout):
				return fmt.Errorf("%w: %s did not shut down within %s", ErrTimeout, name, stopTimeout)
			}
		}
		select {
		case <-w.Ready():
			return stop, nil
		case err := <-ran:
			cancel()
			return nil, fmt.Errorf("%s stopped before it was ready: %w", name, err)
		case <-ctx.Done():
			return nil, errors.Join(context.Cause(ctx), stop())
		case <-time.After(stopTimeout):
			return nil, errors.Join(fmt.Errorf("%w: %s not ready within %s", ErrTimeout, name, stopTimeout), stop())
		}
	}}
}

// TuskqDefaults is config.Default() with the concurrency replaced (when
// positive) and the health endpoint on a free loopback port.
func TuskqDefaults(concurrency int) config.Config {
	cfg := config.Default()
	if concurrency > 0 {
		cfg.Worker.Concurrency = concurrency
	}
	cfg.Worker.Listen = "127.0.0.1:0"
	return cfg
}

// AsynqWithTuskqSettings is the asynq configuration the tuskq worker builds
// from cfg (concurrency, queues, strict priority, poll and shutdown
// intervals), without tuskq's middleware: the bare-asynq twin of a tuskq
// worker.
func AsynqWithTuskqSettings(cfg config.Config) asynq.Config {
	wc := cfg.Worker
	return asynq.Config{
		Concurrency:              wc.Concurrency,
		Queues:                   wc.Queues,
		StrictPriority:           wc.StrictPriority,
		ShutdownTimeout:          wc.ShutdownTimeout,
		TaskCheckInterval:        wc.TaskCheckInterval,
		DelayedTaskCheckInterval: wc.DelayedTaskCheckInterval,
	}
}

// Target keys of the default targets, used by the ratios.
const (
	KeyBare        = "bare"
	KeyTuskq       = "tuskq"
	KeyBarePoll    = "bare-poll"
	KeyBareSettled = "bare-tuskq-settings"
)

// DefaultThroughputTargets are compared by the throughput phase, in this
// order within each round:
//
//   - bare asynq at its defaults (one queue, 1 s idle poll)
//   - the tuskq worker at its defaults
//   - bare asynq with tuskq's default idle poll interval
//   - bare asynq with every server setting of tuskq's defaults (queues and
//     weights, poll intervals), so tuskq/this is the cost of the middleware
//     alone
func DefaultThroughputTargets(concurrency int) []Target {
	tq := TuskqDefaults(concurrency)
	return []Target{
		BareAsynq(KeyBare, "bare asynq, defaults", asynq.Config{Concurrency: concurrency}),
		TuskqWorker(KeyTuskq, "tuskq worker, defaults", tq),
		BareAsynq(KeyBarePoll, fmt.Sprintf("bare asynq, TaskCheckInterval %s", tq.Worker.TaskCheckInterval),
			asynq.Config{Concurrency: concurrency, TaskCheckInterval: tq.Worker.TaskCheckInterval}),
		BareAsynq(KeyBareSettled, "bare asynq, tuskq's server settings", AsynqWithTuskqSettings(tq)),
	}
}

// DefaultLatencyTargets are compared by the pickup-latency phase: the tuskq
// worker and bare asynq, each entirely at its defaults.
func DefaultLatencyTargets() []Target {
	return []Target{
		TuskqWorker(KeyTuskq, "tuskq worker, defaults", TuskqDefaults(0)),
		BareAsynq(KeyBare, "bare asynq, defaults", asynq.Config{}),
	}
}
