// Command monitor serves the asynqmon web UI over the configured Redis,
// with /healthz and /readyz. Run "monitor --help" for its flags; see
// package internal/monitor for its behaviour and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tuskq/tuskq/internal/monitor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// After the first signal, restore the default action: a second one
	// kills the process without waiting for requests in flight.
	context.AfterFunc(ctx, stop)
	code := monitor.Main(ctx, monitor.Env{
		Args:    os.Args[1:],
		Environ: os.Environ(),
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	})
	stop()
	os.Exit(code)
}
