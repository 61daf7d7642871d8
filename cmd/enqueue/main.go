// Command enqueue puts tasks into the tuskq queues: one from the command
// line, or many as JSON lines with --batch. Run "enqueue --help" for usage;
// the logic lives in internal/enqueuecli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	redislog "github.com/redis/go-redis/v9/logging"

	"github.com/tuskq/tuskq/internal/enqueuecli"
)

func main() {
	// go-redis logs each failed dial on its own; enqueue reports Redis
	// errors itself, in one line.
	redislog.Disable()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enqueuecli.Run(ctx, os.Args[1:], enqueuecli.Env{
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Environ:    os.Environ(),
		IsTerminal: enqueuecli.IsTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}
