package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// A worker with one processor, stopped gracefully by SIGTERM or Ctrl-C.
// Here the processor also stops it after its first task, so that the
// example ends.
func Example() {
	// An in-memory Redis, so that the example runs; give the address of
	// yours, such as "127.0.0.1:6379".
	redisServer, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer redisServer.Close()

	cfg := config.Default()
	cfg.Redis.Addr = redisServer.Addr()
	cfg.Worker.Concurrency = 10
	cfg.Worker.Listen = "" // no /healthz, /readyz and /metrics

	logger, err := logging.New(os.Stderr, logging.Options{})
	if err != nil {
		panic(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := tasks.NewRegistry()
	reg.MustRegister("email:send", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		// The line carries trace_id, task_id, task_type, queue and retry.
		logger.InfoContext(ctx, "sending email", "bytes", len(t.Payload()))
		fmt.Printf("sending email: %s\n", t.Payload())
		stop() // as SIGTERM would
		return nil
	}))

	w, err := worker.New(worker.Options{Config: cfg, Logger: logger, Registry: reg})
	if err != nil {
		logger.Error("bad configuration", "error", err)
		return
	}

	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: cfg.Redis.Addr}, tasks.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	if _, err := client.Enqueue(ctx, "email:send", []byte(`{"to":"ada@example.com"}`), nil); err != nil {
		panic(err)
	}

	if err := w.Run(ctx); err != nil {
		logger.Error("worker failed", "error", err)
	}
	fmt.Println("worker stopped")
	// Output:
	// sending email: {"to":"ada@example.com"}
	// worker stopped
}
