package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redisserver"
)

// usageHead is printed before the flag list of --help.
const usageHead = `Usage: bench [flags]

Runs the tuskq load benchmark on one Redis: processing throughput of the
tuskq worker against bare asynq, pickup latency and idle cost of a worker
at default settings, bulk against one-at-a-time enqueue (Go client and
CLI), a sweep of idle poll intervals, the idle cost of a fleet of
workers, and a soak of three worker processes (throughput, peak RSS, Redis
memory, and whether memory keeps growing). Prints a Markdown report to stdout (and JSON with --json), with
each goal of issues 2 and 6 marked met or not met, and progress to stderr.
Without --redis-addr it starts a throwaway redis-server (which must be on
PATH) in a temporary directory and stops it at exit, also on Ctrl-C.

Flags:
`

// Main is cmd/bench: it parses args, runs the benchmark and writes the
// report to stdout. It returns cli.ExitOK, cli.ExitFailure when the run
// fails or is interrupted, and cli.ExitUsage for bad flags.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := DefaultOptions()
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&opts.Tasks, "tasks", opts.Tasks, "tasks per throughput and enqueue measurement")
	fs.IntVar(&opts.Concurrency, "concurrency", opts.Concurrency, "concurrency of the servers in the throughput phase")
	fs.IntVar(&opts.Rounds, "rounds", opts.Rounds, "rounds; targets are interleaved within each round and medians reported")
	fs.StringVar(&opts.RedisAddr, "redis-addr", "", "host:port of an empty Redis to use (its database 0 is flushed); empty starts a throwaway redis-server")
	fs.IntVar(&opts.LatencyTasks, "latency-tasks", opts.LatencyTasks, "tasks enqueued one at a time in the latency phase")
	fs.DurationVar(&opts.GapMin, "gap-min", opts.GapMin, "shortest gap between latency tasks")
	fs.DurationVar(&opts.GapMax, "gap-max", opts.GapMax, "longest gap between latency tasks")
	fs.DurationVar(&opts.IdleSettle, "idle-settle", opts.IdleSettle, "idle time before a worker's Redis commands are counted")
	fs.DurationVar(&opts.IdleWindow, "idle-window", opts.IdleWindow, "how long an idle worker's Redis commands are counted")
	fs.IntVar(&opts.SweepTasks, "sweep-tasks", opts.SweepTasks, "tasks per measurement of the poll-interval sweep")
	fs.DurationSliceVar(&opts.SweepIntervals, "sweep-intervals", DefaultSweepIntervals, "idle poll intervals of the sweep")
	fs.IntSliceVar(&opts.FleetSizes, "fleet-sizes", DefaultFleetSizes, "numbers of idle workers of the fleet phase, increasing")
	fs.IntVar(&opts.BurstWorkers, "burst-workers", opts.BurstWorkers, "idle workers of the burst phase")
	fs.IntVar(&opts.BurstTasks, "burst-tasks", opts.BurstTasks, "tasks of the burst phase")
	fs.IntVar(&opts.SoakTasks, "soak-tasks", opts.SoakTasks, "tasks of the soak phase")
	fs.IntVar(&opts.SoakWaves, "soak-waves", opts.SoakWaves, "equal waves the soak tasks are fed in (at least 3)")
	fs.StringVar(&opts.WorkerBin, "worker-bin", "", "cmd/worker binary the soak runs; empty builds one with go build")
	fs.Uint64Var(&opts.Seed, "seed", opts.Seed, "seed of the random gaps")
	fs.DurationVar(&opts.WaitTimeout, "wait-timeout", opts.WaitTimeout, "bound on every wait for tasks to be processed")
	only := fs.StringSlice("only", nil, "run only these phases: "+strings.Join(Phases, ","))
	targets := fs.StringSlice("targets", nil, "throughput targets to compare instead of the default ones, by key: "+
		strings.Join(targetKeys(ThroughputCatalog(1)), ","))
	latencyTargets := fs.StringSlice("latency-targets", nil, "latency targets to compare instead of the default ones, by key: "+
		strings.Join(targetKeys(LatencyCatalog()), ","))
	fs.StringVar(&opts.CPUProfileDir, "cpuprofile", "", "directory for one CPU profile per throughput measurement (created if missing)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file; - prints JSON to stdout instead of Markdown")
	help := fs.BoolP("help", "h", false, "show this help")

	usage := func(w io.Writer) {
		fmt.Fprint(w, usageHead)
		fmt.Fprint(w, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "bench: %v\nRun 'bench --help' for usage.\n", err)
		return cli.ExitUsage
	}
	if *help {
		usage(stdout)
		return cli.ExitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q: bench takes flags only\nRun 'bench --help' for usage.\n", fs.Arg(0))
		return cli.ExitUsage
	}
	opts.Phases = *only
	if len(*targets) > 0 {
		ts, err := selectTargets(ThroughputCatalog(opts.Concurrency), *targets)
		if err != nil {
			fmt.Fprintf(stderr, "bench: --targets: %v\n", err)
			return cli.ExitUsage
		}
		opts.ThroughputTargets = ts
	}
	if len(*latencyTargets) > 0 {
		ts, err := selectTargets(LatencyCatalog(), *latencyTargets)
		if err != nil {
			fmt.Fprintf(stderr, "bench: --latency-targets: %v\n", err)
			return cli.ExitUsage
		}
		opts.LatencyTargets = ts
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return cli.ExitUsage
	}
	opts.Progress = stderr
	opts.Command = "bench " + strings.Join(args, " ")
	if opts.CPUProfileDir != "" {
		if err := os.MkdirAll(opts.CPUProfileDir, 0o755); err != nil {
			fmt.Fprintf(stderr, "bench: --cpuprofile: %v\n", err)
			return cli.ExitFailure
		}
	}

	rep, err := runWithRedis(ctx, opts, stderr)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(stderr, "bench: interrupted; stopped everything it had started (%v)\n", err)
		return cli.ExitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return cli.ExitFailure
	}
	if err := writeReport(rep, *jsonOut, stdout); err != nil {
		fmt.Fprintf(stderr, "bench: write report: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// writeReport prints the Markdown report to stdout and the JSON report to
// jsonOut; with jsonOut "-" it prints only the JSON, to stdout.
func writeReport(rep *Report, jsonOut string, stdout io.Writer) error {
	if jsonOut == "-" {
		return rep.WriteJSON(stdout)
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		return err
	}
	if jsonOut == "" {
		return nil
	}
	f, err := os.Create(jsonOut)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runWithRedis runs the benchmark, first starting a throwaway redis-server
// when opts.RedisAddr is empty; the server and its directory are removed
// before it returns.
func runWithRedis(ctx context.Context, opts Options, stderr io.Writer) (_ *Report, err error) {
	if opts.RedisAddr != "" {
		return Run(ctx, opts)
	}
	dir, err := os.MkdirTemp("", "tuskq-bench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory for redis-server: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	// The fleet and burst phases run up to 500 workers in this process,
	// about 20 Redis connections each under a burst (go-redis pools that
	// grow with the servers' calls): Redis's default limit of 10,000
	// clients refused some of them, and the refused calls made tasks run
	// again. Redis lowers the limit to what the file descriptor limit
	// allows.
	srv, err := redisserver.Start(ctx, redisserver.Options{Dir: dir, Args: []string{"--maxclients", "30000"}})
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop redis-server: %w", serr))
		}
	}()
	fmt.Fprintf(stderr, "bench: started redis-server on %s (data in %s); it is stopped at exit\n", srv.Addr(), dir)
	opts.RedisAddr = srv.Addr()
	rep, err := Run(ctx, opts)
	if rep != nil {
		rep.Environment.RedisAddr += " (throwaway redis-server started by the benchmark, persistence off)"
	}
	return rep, err
}

// targetKeys returns the keys of ts.
func targetKeys(ts []Target) []string {
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.Key
	}
	return keys
}
