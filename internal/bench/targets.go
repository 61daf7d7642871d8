package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

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

// WorkerOption changes the worker.Options of a TuskqWorker target.
type WorkerOption func(*worker.Options)

// WithServers sets worker.Options.Servers.
func WithServers(n int) WorkerOption {
	return func(o *worker.Options) { o.Servers = n }
}

// TuskqWorker is the tuskq worker runtime (package worker) built from cfg,
// with the handler registered for TaskType, its full middleware (trace
// context, a JSON log line per task written to io.Discard, metrics on a
// fresh Prometheus registry, panic recovery) and cfg.Redis.Addr replaced
// by the benchmark's Redis; opts change the worker options.
func TuskqWorker(key, name string, cfg config.Config, opts ...WorkerOption) Target {
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
		wo := worker.Options{Config: c, Logger: logger, Registry: reg, Registerer: prometheus.NewRegistry()}
		for _, o := range opts {
			o(&wo)
		}
		w, err := worker.New(wo)
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
	KeyTuskqOne    = "tuskq-1-server"
	KeyBarePoll    = "bare-poll"
	KeyBareSettled = "bare-tuskq-settings"
	// KeyTuskqRecord is the tuskq worker at its defaults with completion
	// records on (worker.completion_record), for their cost.
	KeyTuskqRecord = "tuskq-completion-record"
)

// DefaultThroughputTargets are compared by the throughput phase (rotated
// round by round, see rotate):
//
//   - bare asynq at its defaults (one queue, 1 s idle poll)
//   - the tuskq worker at its defaults (worker.DefaultServers servers)
//   - the tuskq worker at its defaults but with one asynq server
//   - bare asynq with every server setting of tuskq's defaults (queues and
//     weights, poll intervals), so the one-server tuskq worker against this
//     one is the cost of the middleware alone
func DefaultThroughputTargets(concurrency int) []Target {
	return pick(ThroughputCatalog(concurrency), KeyBare, KeyTuskq, KeyTuskqOne, KeyBareSettled)
}

// ThroughputCatalog returns every throughput target cmd/bench's --targets
// can name: the defaults, plus variants for experiments (bare asynq with
// tuskq's poll interval, on a RESP2 go-redis client, with three queues; the
// tuskq worker with completion records, and with 2, 3, 4, 6 and 8 servers).
func ThroughputCatalog(concurrency int) []Target {
	tq := TuskqDefaults(concurrency)
	bareCfg := asynq.Config{Concurrency: concurrency}
	three := bareCfg
	three.Queues = tq.Worker.Queues
	cat := []Target{
		BareAsynq(KeyBare, "bare asynq, defaults", bareCfg),
		TuskqWorker(KeyTuskq, fmt.Sprintf("tuskq worker, defaults (%d servers)", worker.DefaultServers), tq),
		TuskqWorker(KeyTuskqOne, "tuskq worker, defaults but 1 server", tq, WithServers(1)),
		BareAsynq(KeyBareSettled, "bare asynq, tuskq's server settings", AsynqWithTuskqSettings(tq)),
		BareAsynq(KeyBarePoll, fmt.Sprintf("bare asynq, TaskCheckInterval %s", tq.Worker.TaskCheckInterval),
			asynq.Config{Concurrency: concurrency, TaskCheckInterval: tq.Worker.TaskCheckInterval}),
		BareAsynq("bare-3-queues", "bare asynq, queues critical 6, default 3, low 1", three),
		BareAsynqTuned("bare-resp2", "bare asynq, RESP2 go-redis client", bareCfg,
			func(o *redis.Options) { o.Protocol = 2 }),
		BareAsynqOn("bare-autopipeline", "bare asynq, go-redis AutoPipeline client", bareCfg,
			func(addr string) (redis.UniversalClient, error) {
				return redis.NewClient(&redis.Options{Addr: addr}).AutoPipeline()
			}),
	}
	rec := tq
	rec.Worker.CompletionRecord = true
	cat = append(cat, TuskqWorker(KeyTuskqRecord, "tuskq worker, defaults with worker.completion_record", rec))
	for _, n := range []int{2, 3, 4, 6, 8} {
		cat = append(cat, TuskqWorker(fmt.Sprintf("tuskq-%d-servers", n), fmt.Sprintf("tuskq worker, defaults but %d servers", n), tq, WithServers(n)))
	}
	return cat
}

// DefaultLatencyTargets are compared by the pickup-latency phase: the tuskq
// worker and bare asynq, each entirely at its defaults.
func DefaultLatencyTargets() []Target {
	return pick(LatencyCatalog(), KeyTuskq, KeyBare)
}

// LatencyCatalog returns every latency target cmd/bench's
// --latency-targets can name: the defaults, the tuskq worker with one
// asynq server, the tuskq worker polling (worker.wake poll), and bare
// asynq with tuskq's poll interval.
func LatencyCatalog() []Target {
	tq := TuskqDefaults(0)
	poll := tq
	poll.Worker.Wake = config.WakePoll
	return []Target{
		TuskqWorker("tuskq-poll", "tuskq worker, defaults but worker.wake poll", poll),
		TuskqWorker(KeyTuskq, "tuskq worker, defaults", tq),
		BareAsynq(KeyBare, "bare asynq, defaults", asynq.Config{}),
		TuskqWorker(KeyTuskqOne, "tuskq worker, defaults but 1 server", tq, WithServers(1)),
		BareAsynq(KeyBarePoll, fmt.Sprintf("bare asynq, TaskCheckInterval %s", tq.Worker.TaskCheckInterval),
			asynq.Config{TaskCheckInterval: tq.Worker.TaskCheckInterval}),
	}
}

// pick returns the targets of cat with the given keys, in that order; it
// panics on an unknown key (a programming error in this package).
func pick(cat []Target, keys ...string) []Target {
	out, err := selectTargets(cat, keys)
	if err != nil {
		panic(err)
	}
	return out
}

// selectTargets returns the targets of cat with the given keys, in that
// order, or an error naming an unknown key and the known ones.
func selectTargets(cat []Target, keys []string) ([]Target, error) {
	out := make([]Target, 0, len(keys))
	for _, k := range keys {
		i := slices.IndexFunc(cat, func(t Target) bool { return t.Key == k })
		if i < 0 {
			known := make([]string, len(cat))
			for j, t := range cat {
				known[j] = t.Key
			}
			return nil, fmt.Errorf("unknown target %q; expected some of %s", k, strings.Join(known, ","))
		}
		out = append(out, cat[i])
	}
	return out, nil
}

// BareAsynqTuned is BareAsynq on a go-redis client of its own, built from
// redis.Options{Addr} changed by tune, and passed to asynq through
// NewServerFromRedisClient: the way to try go-redis settings on bare asynq.
func BareAsynqTuned(key, name string, cfg asynq.Config, tune func(*redis.Options)) Target {
	return BareAsynqOn(key, name, cfg, func(addr string) (redis.UniversalClient, error) {
		ro := &redis.Options{Addr: addr}
		tune(ro)
		return redis.NewClient(ro), nil
	})
}

// BareAsynqOn is BareAsynq on the go-redis client dial returns for the
// benchmark's Redis, passed to asynq through NewServerFromRedisClient and
// closed when the target stops.
func BareAsynqOn(key, name string, cfg asynq.Config, dial func(addr string) (redis.UniversalClient, error)) Target {
	return Target{Key: key, Name: name, Start: func(ctx context.Context, addr string, h Handler) (StopFunc, error) {
		rdb, err := dial(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c := cfg
		if c.Logger == nil {
			c.Logger = logging.NewAsynqLogger(slog.New(slog.DiscardHandler))
		}
		srv := asynq.NewServerFromRedisClient(rdb, c)
		if err := srv.Start(asynq.HandlerFunc(h)); err != nil {
			rdb.Close()
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
				return rdb.Close()
			case <-time.After(stopTimeout):
				return fmt.Errorf("%w: %s did not shut down within %s", ErrTimeout, name, stopTimeout)
			}
		}, nil
	}}
}
