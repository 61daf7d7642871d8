// Command demo runs tuskq end to end on one machine: Redis, two workers,
// the monitor, a webhook endpoint and a producer. 'make demo' runs it; see
// package internal/demo for what it does and its exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tuskq/tuskq/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal the demo stops what it started; a second one
	// kills it (the children get SIGTERM from the kernel on Linux).
	context.AfterFunc(ctx, stop)
	code := demo.Main(ctx, demo.Env{
		Args:    os.Args[1:],
		Environ: os.Environ(),
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	})
	stop()
	os.Exit(code)
}
