// Command worker processes tuskq tasks from Redis with the built-in
// processors. Run "worker --help" for its flags; see package
// internal/workercmd for its behaviour and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tuskq/tuskq/internal/workercmd"
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTSTP)
	os.Exit(workercmd.Main(context.Background(), workercmd.Env{
		Args:      os.Args[1:],
		Environ:   os.Environ(),
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Signals:   sigs,
		UseLogger: workercmd.RouteRedisLogs,
	}))
}
