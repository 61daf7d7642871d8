// Command bench runs the tuskq load benchmark (make bench): tuskq worker
// against bare asynq throughput, idle pickup latency and cost, bulk against
// one-at-a-time enqueue, a sweep of idle poll intervals, the idle cost of a
// fleet and a soak of three worker processes, on one Redis in one run, with
// the goals of issues 2 and 6 marked met or not met. Run "bench --help" for
// its flags; the logic lives in internal/bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tuskq/tuskq/internal/bench"
)

func main() {
	// Ctrl-C and SIGTERM cancel the run; everything it started is stopped
	// before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
