package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// A producer enqueues a task; routes supply the queue and retry budget.
func ExampleClient_Enqueue() {
	ctx := context.Background()
	maxRetry := 5
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}, tasks.ClientOptions{
		Routes: []tasks.Route{{Pattern: "email:*", Queue: "critical", MaxRetry: &maxRetry}},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	payload, _ := json.Marshal(map[string]string{"to": "ada@example.com"})
	info, err := client.Enqueue(ctx, "email:send", payload, nil)
	if err != nil {
		fmt.Println("enqueue:", err)
		return
	}
	fmt.Println(info.ID, info.Queue, info.TraceID)
}

// A worker registers processors and wraps the registry in tuskq's middleware.
func ExampleRegistry() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := tasks.NewRegistry()
	reg.MustRegister("email:send", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		var p struct{ To string }
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("email:send: payload: %w", errors.Join(err, asynq.SkipRetry))
		}
		logger.InfoContext(ctx, "sending", "to", p.To)
		return nil
	}))
	handler := tasks.Chain(reg, tasks.Context(), tasks.Log(logger, tasks.LogOptions{}), tasks.Recover(logger))
	_ = handler // pass to asynq.Server.Start, or use the worker package
	fmt.Println(reg.Types())
	// Output: [email:send]
}
