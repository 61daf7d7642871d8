package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
)

// Env is what the process gives the demo command.
type Env struct {
	// Args are the command-line arguments without the program name.
	Args []string
	// Environ is the environment as KEY=VALUE strings.
	Environ []string
	// Stdout receives progress and the summary; Stderr receives errors.
	Stdout, Stderr io.Writer
}

// Main runs the demo command and returns the exit status: 0 when tasks were
// processed, 1 when the demo failed or processed nothing, 2 for bad usage.
// Cancelling ctx (Ctrl-C) stops the demo and prints the summary.
func Main(ctx context.Context, env Env) int {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	duration := fs.Duration("duration", 0, "run this long, print a summary and exit (e.g. 20s); 0 runs until Ctrl-C")
	binDir := fs.String("bin-dir", "", "`dir` with prebuilt worker, monitor and enqueue binaries (make demo passes ./bin); empty builds them into a temporary directory")
	stateDir := fs.String("dir", DefaultStateDir, "`dir` for the processes' logs (in dir/logs)")
	redisChoice := fs.String("redis", RedisAuto, "which Redis to start: auto (redis-server when installed, else embedded), server or embedded; TUSKQ_REDIS_ADDR uses yours instead")
	monitorListen := fs.String("monitor-listen", DefaultMonitorListen, "loopback `host:port` of the monitor; a free port is used when it is taken")
	workers := fs.Int("workers", DefaultWorkers, "number of worker processes")
	if err := fs.Parse(env.Args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, usage(fs))
			return cli.ExitOK
		}
		fmt.Fprintf(env.Stderr, "demo: %v\nRun 'demo --help' for usage.\n", err)
		return cli.ExitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(env.Stderr, "demo: unexpected argument %q; the demo takes only flags\n", fs.Arg(0))
		return cli.ExitUsage
	case *duration < 0:
		fmt.Fprintf(env.Stderr, "demo: --duration %s is negative; use 0 (until Ctrl-C) or a positive duration such as 20s\n", *duration)
		return cli.ExitUsage
	case *workers < 1 || *workers > 16:
		fmt.Fprintf(env.Stderr, "demo: --workers %d is out of range; use 1 to 16\n", *workers)
		return cli.ExitUsage
	case *redisChoice != RedisAuto && *redisChoice != RedisServer && *redisChoice != RedisEmbedded:
		fmt.Fprintf(env.Stderr, "demo: --redis %q is not valid; use auto, server or embedded\n", *redisChoice)
		return cli.ExitUsage
	}
	opts := Options{
		Duration:      *duration,
		BinDir:        *binDir,
		StateDir:      *stateDir,
		Redis:         *redisChoice,
		MonitorListen: *monitorListen,
		Workers:       *workers,
		Environ:       env.Environ,
		Out:           env.Stdout,
	}
	if external(env.Environ) {
		cfg, err := config.Load(config.LoadOptions{Environ: env.Environ})
		if err != nil {
			fmt.Fprintf(env.Stderr, "demo: %v\n", err)
			return cli.ExitUsage
		}
		opts.External = &cfg.Redis
		opts.EnqueueTimeout = cfg.Enqueue.Timeout
		if opts.EnqueueTimeout == 0 { // enqueue.timeout: 0 means none
			opts.EnqueueTimeout = -1
		}
	}
	sum, err := Run(ctx, opts)
	if sum != nil {
		if werr := sum.Write(env.Stdout); werr != nil {
			fmt.Fprintf(env.Stderr, "demo: %v\n", werr)
		}
	}
	switch {
	case err == nil:
		return cli.ExitOK
	case ctx.Err() != nil && sum == nil:
		fmt.Fprintln(env.Stderr, "demo: interrupted before tasks were produced; everything it started is stopped")
		return cli.ExitFailure
	}
	fmt.Fprintf(env.Stderr, "demo: %v\n", err)
	return cli.ExitFailure
}

// external reports whether the environment names a Redis of the user's.
func external(environ []string) bool {
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if (k == "TUSKQ_REDIS_ADDR" || k == "TUSKQ_REDIS_ADDRS") && v != "" {
			return true
		}
	}
	return false
}

func usage(fs *pflag.FlagSet) string {
	return "Usage:\n" +
		"  demo [flags]     (usually through 'make demo' or 'make demo DURATION=20s')\n\n" +
		"Brings up Redis, two workers, the monitor, a local webhook endpoint and a\n" +
		"producer enqueuing a mix of priorities, delays, failures and webhooks.\n" +
		"Ctrl-C stops everything it started and prints a summary.\n\n" +
		"Environment: TUSKQ_REDIS_ADDR (and the other TUSKQ_REDIS_* variables) uses\n" +
		"your Redis instead of starting one; other TUSKQ_* variables reach the workers.\n\n" +
		"Flags:\n" + fs.FlagUsages()
}
