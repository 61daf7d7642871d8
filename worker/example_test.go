package worker_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// A worker with one processor, stopped gracefully by SIGTERM or Ctrl-C.
// It needs a Redis at 127.0.0.1:6379, so it is compiled but not run.
func Example() {
	cfg := config.Default()
	cfg.Worker.Concurrency = 10

	logger, err := logging.New(os.Stderr, logging.Options{})
	if err != nil {
		panic(err)
	}
	reg := tasks.NewRegistry()
	reg.MustRegister("email:send", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		// The line carries trace_id, task_id, task_type, queue and retry.
		logger.InfoContext(ctx, "sending email", "bytes", len(t.Payload()))
		return nil
	}))

	w, err := worker.New(worker.Options{Config: cfg, Logger: logger, Registry: reg})
	if err != nil {
		logger.Error("bad configuration", "error", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		logger.Error("worker failed", "error", err)
	}
}
