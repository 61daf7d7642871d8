// Package workercmd implements the worker command: it parses the command
// line, loads the configuration, registers the built-in processors and runs
// a worker.Worker until a signal stops it. cmd/worker only wires the process
// (arguments, environment, standard streams, signals) to Main.
//
//	worker [flags]
//	worker config print | worker config validate FILE
//
// Signals: SIGTERM and SIGINT start a graceful shutdown (see package
// worker); a second one exits at once with status 1, leaving the tasks in
// flight to be recovered by another worker when their leases expire.
// SIGTSTP stops fetching new tasks (worker.Worker.Pause).
//
// Exit codes: 0 after a clean shutdown; 1 when the worker could not run or
// stopped on an error (Redis unreachable at start-up: one line naming the
// address; a config file that cannot be read); 2 for a usage or
// configuration error.
package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/processors"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// Env is what the process gives the command.
type Env struct {
	// Args are the command-line arguments without the program name.
	Args []string
	// Environ is the environment as KEY=VALUE strings (os.Environ()).
	Environ []string
	// Stdout receives help and config output; Stderr receives logs and
	// errors.
	Stdout, Stderr io.Writer
	// Signals delivers SIGTERM, SIGINT and SIGTSTP. Nil means none: only
	// cancelling the context of Main stops the worker.
	Signals <-chan os.Signal
	// UseLogger, when set, is called with the logger built from the
	// configuration once the worker is running, for the process to route
	// process-wide loggers through it (cmd/worker passes RouteRedisLogs).
	// Before that it is called with a logger that discards everything, so
	// that a failed start prints one line only.
	UseLogger func(*slog.Logger)
}

// RouteRedisLogs sends go-redis's own messages (connection pool and dial
// failures), which it otherwise prints as plain text, into l. go-redis's
// logger is process-wide: only a main package should call this.
func RouteRedisLogs(l *slog.Logger) {
	redis.SetLogger(logging.NewRedisLogger(l))
}

// Main runs the worker command and returns the process exit status.
// Cancelling ctx shuts the worker down like SIGTERM does.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) > 0 && env.Args[0] == "config" {
		return cli.ConfigCommand(env.Args[1:], env.Environ, env.Stdout, env.Stderr, addWorkerFlags)
	}
	if len(env.Args) > 0 && env.Args[0] == "limits" {
		return limitsCommand(ctx, env.Args[1:], env)
	}
	if len(env.Args) > 0 && env.Args[0] == "plugins" {
		return pluginsCommand(ctx, env.Args[1:], env)
	}
	fs, err := flagSet()
	if err != nil {
		fmt.Fprintf(env.Stderr, "worker: %v\n", err)
		return cli.ExitFailure
	}
	if err := fs.Parse(env.Args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, usage(fs))
			return cli.ExitOK
		}
		fmt.Fprintf(env.Stderr, "worker: %v\nRun 'worker --help' for usage.\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "worker: unexpected argument %q; the worker takes only flags\nRun 'worker --help' for usage.\n", fs.Arg(0))
		return cli.ExitUsage
	}
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.LoadExitCode(err)
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceWorker, Environ: env.Environ})
	if err != nil {
		fmt.Fprintf(env.Stderr, "worker: %v\n", err)
		return cli.ExitUsage
	}
	w, logger, ps, err := build(ctx, cfg, env, tel)
	if err != nil {
		_ = tel.Shutdown(ctx)
		fmt.Fprintf(env.Stderr, "worker: %v\n", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "worker: "), "\n", " "))
		// Redis trouble or an unsafe or missing plugin directory is a
		// failure of the environment, not bad input.
		if errors.Is(err, errFleetState) || errors.Is(err, plugins.ErrInsecure) || errors.Is(err, iofs.ErrNotExist) {
			return cli.ExitFailure
		}
		return cli.ExitUsage
	}
	// The spans of the last tasks are flushed after the worker stopped.
	defer tel.Close(ctx, logger)
	return withPlugins(ctx, ps, env.Stderr, func() int { return run(ctx, cfg, w, logger, env) })
}

// flagSet defines the worker's flags: the shared ones of config.AddFlags
// plus shortcuts for the most used worker keys.
func flagSet() (*pflag.FlagSet, error) {
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	config.AddFlags(fs)
	if err := addWorkerFlags(fs); err != nil {
		return nil, err
	}
	return fs, nil
}

// addWorkerFlags adds the shortcuts for the most used worker keys.
func addWorkerFlags(fs *pflag.FlagSet) error {
	fs.Int("concurrency", 0, "tasks processed at once (worker.concurrency)")
	fs.String("queues", "", "queue weights as `name=weight,...`, e.g. critical=6,default=3,low=1 (worker.queues)")
	fs.String("listen", "", "`host:port` of /healthz, /readyz and /metrics; empty turns them off (worker.listen)")
	for flag, key := range map[string]string{
		"concurrency": "worker.concurrency",
		"queues":      "worker.queues",
		"listen":      "worker.listen",
	} {
		if err := config.BindFlag(fs, flag, key); err != nil {
			return err
		}
	}
	return nil
}

func usage(fs *pflag.FlagSet) string {
	return "Usage:\n" +
		"  worker [flags]                 process tasks until SIGTERM or SIGINT\n" +
		"  worker config print            print the effective configuration (secrets masked)\n" +
		"  worker config validate FILE    check a configuration file\n" +
		"  worker plugins list|show|enable|disable|config   fleet-wide plugin state (worker plugins --help)\n" +
		"  worker limits list|set|clear                     fleet-wide concurrency and rate limits (worker limits --help)\n\n" +
		"Signals: SIGTERM/SIGINT shut down gracefully (a second one exits at once),\n" +
		"SIGTSTP stops fetching new tasks.\n\n" +
		"Flags:\n" + fs.FlagUsages()
}

// build makes the logger, the registry of built-in processors, the plugin
// manager (nil when plugins.dir is empty) and the worker from the
// configuration. tel, when not nil, traces task attempts and webhook calls
// (and Redis commands with otel.redis).
func build(ctx context.Context, cfg config.Config, env Env, tel *telemetry.Telemetry) (*worker.Worker, *slog.Logger, *Plugins, error) {
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, nil, nil, err
	}
	logger, err := logging.New(env.Stderr, logging.Options{Level: level, Format: cfg.Log.Format})
	if err != nil {
		return nil, nil, nil, err
	}
	reg := tasks.NewRegistry()
	err = processors.RegisterBuiltins(reg, processors.Options{
		HTTPAllowHosts: cfg.Worker.HTTPAllowHosts,
		Logger:         logger,
		TracerProvider: tel.TracerProvider(),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	// The worker's registry, served on /metrics, holds the plugin metrics
	// too.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var ps *Plugins // set below, before the worker runs
	w, err := worker.New(PluginWorkerOptions(cfg, worker.Options{
		PluginVersion: func(taskType string) string { return ps.Version(taskType) },
		Config:        cfg,
		Logger:        logger,
		Registry:      reg,
		RetryDelay:    retryDelay,
		Registerer:    metrics,

		TracerProvider: tel.TracerProvider(),
	}))
	if err != nil {
		return nil, nil, nil, err
	}
	ps, err = OpenPlugins(ctx, cfg, reg, logger, env.Environ)
	if err != nil {
		return nil, nil, nil, err
	}
	if ps != nil {
		if err := metrics.Register(ps.mgr.Collector()); err != nil {
			ps.Close(ctx)
			return nil, nil, nil, fmt.Errorf("worker: register plugin metrics: %w", err)
		}
	}
	// With otel.metrics, the same registry is exported over OTLP too.
	tel.ExportMetrics(metrics)
	return w, logger, ps, nil
}

// maxRetryAfter caps the delay a webhook receiver may ask for with
// Retry-After, so a hostile or broken receiver cannot park tasks for days.
const maxRetryAfter = time.Hour

// retryDelay is asynq's exponential backoff, except that an http:request
// attempt answered with Retry-After waits at least that long (up to
// maxRetryAfter).
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	d := asynq.DefaultRetryDelayFunc(n, err, t)
	if ra, ok := processors.RetryAfter(err); ok {
		d = max(d, min(ra, maxRetryAfter))
	}
	return d
}

// run runs w, and the scheduler when worker.scheduler is on, until ctx is
// cancelled or a signal stops it.
func run(ctx context.Context, cfg config.Config, w *worker.Worker, logger *slog.Logger, env Env) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	use := env.UseLogger
	if use == nil {
		use = func(*slog.Logger) {}
	}
	use(slog.New(slog.DiscardHandler))
	go func() { done <- w.Run(ctx) }()
	// The scheduler starts once the worker runs, and stops with it: on a
	// stop signal (ctx is cancelled) and when Run ends.
	waitScheduler := func() {}
	defer func() {
		cancel()
		waitScheduler()
	}()
	ready := w.Ready()
	stopping := false
	for {
		select {
		case <-ready:
			use(logger)
			ready = nil
			ws, err := startScheduler(ctx, cfg, logger)
			if err != nil {
				logger.ErrorContext(ctx, "scheduler not started", "error", err)
				break
			}
			waitScheduler = ws
		case err := <-done:
			cancel()
			waitScheduler()
			if err != nil {
				// One plain line: the usual case is Redis unreachable at
				// start-up, where the address is what the reader needs.
				fmt.Fprintln(env.Stderr, strings.ReplaceAll(err.Error(), "\n", " "))
				return cli.ExitFailure
			}
			return cli.ExitOK
		case sig := <-env.Signals:
			switch {
			case sig == syscall.SIGTSTP:
				logger.InfoContext(ctx, "received SIGTSTP: pausing", "signal", sig.String())
				go w.Pause()
			case stopping:
				logger.ErrorContext(ctx, "received a second stop signal: exiting without waiting for tasks in flight; they return to their queues when their leases expire",
					"signal", sig.String())
				return cli.ExitFailure
			default:
				stopping = true
				logger.InfoContext(ctx, "received stop signal: shutting down", "signal", sig.String())
				cancel()
			}
		}
	}
}
