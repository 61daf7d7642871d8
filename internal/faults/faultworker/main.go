// Command faultworker is the worker process of the fault tests
// (internal/faults): one process of either engine, processing faults.TaskType
// with the same handler, which records each run in the ledger Redis.
//
//	faultworker --engine tuskq --ledger ADDR --name NAME
//	faultworker --engine asynq --ledger ADDR --name NAME --redis ADDR [--crash-exit]
//	faultworker --engine asynq ... --sentinels A,B,C --master-name NAME
//
// The tuskq engine reads its configuration like cmd/worker does
// (TUSKQ_* variables, TUSKQ_CONFIG), runs worker.Worker and, when
// plugins.dir is set, the plugin manager wired as cmd/worker wires it
// (workercmd.OpenPlugins: its runtimes and the fleet-wide plugin state).
// The asynq engine runs a bare asynq.Server with asynq's defaults and the
// same concurrency; with --crash-exit its handler of faults.CrashType
// exits the process, as a crash of in-process code does.
//
// SIGTERM or SIGINT shut the worker down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/faults"
	"github.com/tuskq/tuskq/internal/workercmd"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// crashExitCode is the status the --crash-exit handler exits with.
const crashExitCode = 2

type options struct {
	engine      string
	ledger      string
	name        string
	concurrency int
	redis       string
	sentinels   string
	masterName  string
	crashExit   bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("faultworker", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "", "tuskq or asynq")
	fs.StringVar(&o.ledger, "ledger", "", "host:port of the ledger Redis")
	fs.StringVar(&o.name, "name", "", "name of this worker process in the ledger")
	fs.IntVar(&o.concurrency, "concurrency", 10, "tasks at once (asynq engine; tuskq reads worker.concurrency)")
	fs.StringVar(&o.redis, "redis", "", "host:port of the queue Redis (asynq engine)")
	fs.StringVar(&o.sentinels, "sentinels", "", "comma-separated sentinel addresses (asynq engine)")
	fs.StringVar(&o.masterName, "master-name", "", "sentinel master name (asynq engine)")
	fs.BoolVar(&o.crashExit, "crash-exit", false, "exit the process on a "+faults.CrashType+" task (asynq engine)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.ledger == "" || o.name == "" {
		return errors.New("--ledger and --name are required")
	}
	lrdb := redis.NewClient(&redis.Options{Addr: o.ledger})
	defer lrdb.Close()
	ledger := faults.NewLedger(lrdb)
	h := handler(ledger, o.name)
	switch o.engine {
	case faults.EngineTuskq:
		return runTuskq(ctx, ledger, o.name, h)
	case faults.EngineAsynq:
		return runAsynq(ctx, ledger, o, h)
	}
	return fmt.Errorf("--engine %q: want %s or %s", o.engine, faults.EngineTuskq, faults.EngineAsynq)
}

// handler is the faults.TaskType handler of both engines.
func handler(ledger *faults.Ledger, name string) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		p, err := faults.DecodePayload(t.Payload())
		if err != nil {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		retry, _ := asynq.GetRetryCount(ctx)
		if err := ledger.Start(ctx, p.Seq, retry, name); err != nil {
			return err
		}
		timer := time.NewTimer(time.Duration(p.SleepMS) * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return ledger.Done(ctx, p.Seq, time.Now())
	}
}

func runTuskq(ctx context.Context, ledger *faults.Ledger, name string, h asynq.HandlerFunc) error {
	cfg, err := config.Load(config.LoadOptions{Environ: os.Environ()})
	if err != nil {
		return err
	}
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		return err
	}
	logger, err := logging.New(os.Stderr, logging.Options{Level: level, Format: cfg.Log.Format})
	if err != nil {
		return err
	}
	reg := tasks.NewRegistry()
	if err := reg.Register(faults.TaskType, tasks.ProcessorFunc(h)); err != nil {
		return err
	}
	// The plugin wiring of cmd/worker: the fleet-wide state, a disabled
	// plugin's tasks charged no retry.
	ps, err := workercmd.OpenPlugins(ctx, cfg, reg, logger, os.Environ())
	if err != nil {
		return err
	}
	if ps != nil {
		defer ps.Close(context.WithoutCancel(ctx))
	}
	w, err := worker.New(workercmd.PluginWorkerOptions(cfg, worker.Options{Config: cfg, Registry: reg, Logger: logger}))
	if err != nil {
		return err
	}
	if ps != nil {
		stop, err := ps.Start(ctx)
		if err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
		if stop == nil { // stopped while the plugins loaded
			return nil
		}
		defer func() { _ = stop() }()
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-w.Ready():
		if err := ledger.Ready(ctx, name); err != nil {
			logger.ErrorContext(ctx, "ledger", "error", err)
		}
	case err := <-done:
		return err
	}
	return <-done
}

func runAsynq(ctx context.Context, ledger *faults.Ledger, o options, h asynq.HandlerFunc) error {
	var opt asynq.RedisConnOpt = asynq.RedisClientOpt{Addr: o.redis}
	if o.sentinels != "" {
		opt = asynq.RedisFailoverClientOpt{MasterName: o.masterName, SentinelAddrs: strings.Split(o.sentinels, ",")}
	} else if o.redis == "" {
		return errors.New("--redis or --sentinels is required with --engine asynq")
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: o.concurrency,
		Queues:      map[string]int{"default": 1},
	})
	mux := asynq.NewServeMux()
	mux.Handle(faults.TaskType, h)
	if o.crashExit {
		mux.HandleFunc(faults.CrashType, func(context.Context, *asynq.Task) error {
			fmt.Fprintln(os.Stderr, "faultworker: crashing on", faults.CrashType)
			os.Exit(crashExitCode)
			return nil
		})
	}
	if err := srv.Start(mux); err != nil {
		return err
	}
	if err := ledger.Ready(ctx, o.name); err != nil {
		fmt.Fprintln(os.Stderr, "faultworker:", err)
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}
