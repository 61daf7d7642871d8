// Command quickstart is a complete tuskq program: a producer enqueues an
// "email:send" task and a worker with one processor for that type runs it.
// With a Redis on 127.0.0.1:6379 (or TUSKQ_REDIS_ADDR set):
//
//	go run ./examples/quickstart     # Ctrl-C stops the worker
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The same configuration as the tuskq binaries: defaults, then TUSKQ_* variables.
	cfg, err := config.Load(config.LoadOptions{Environ: os.Environ()})
	if err != nil {
		return err
	}
	logger, err := logging.New(os.Stderr, logging.Options{}) // JSON lines
	if err != nil {
		return err
	}
	slog.SetDefault(logger)

	// The producer: enqueue one task.
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password}, tasks.ClientOptions{})
	if err != nil {
		return err
	}
	defer client.Close()
	info, err := client.Enqueue(ctx, "email:send", []byte(`{"to":"ada@example.com"}`), nil)
	if err != nil {
		return err
	}
	fmt.Printf("enqueued %s to queue %s, trace %s\n", info.ID, info.Queue, info.TraceID)

	// The worker: one processor, running until Ctrl-C.
	reg := tasks.NewRegistry()
	reg.MustRegister("email:send", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		var p struct {
			To string `json:"to"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			// SkipRetry: archived at once; any other error is retried with backoff.
			return fmt.Errorf("bad payload: %w: %w", err, asynq.SkipRetry)
		}
		// The line carries trace_id, task_id, task_type, queue and retry too.
		slog.InfoContext(ctx, "sending email", "to", p.To)
		return nil
	}))
	w, err := worker.New(worker.Options{Config: cfg, Logger: logger, Registry: reg})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
