package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// A producer enqueues a task; routes supply the queue and retry budget.
func ExampleClient_Enqueue() {
	// An in-memory Redis, so that the example runs; give the address of
	// yours, such as "127.0.0.1:6379".
	redisServer, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer redisServer.Close()

	ctx := context.Background()
	maxRetry := 5
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: redisServer.Addr()}, tasks.ClientOptions{
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
	// The ID and the trace ID are random: a UUID and 32 hex digits.
	fmt.Println("queue:", info.Queue, "max retry:", info.MaxRetry, "trace ID digits:", len(info.TraceID))
	// Output: queue: critical max retry: 5 trace ID digits: 32
}

// A worker registers processors and wraps the registry in tuskq's
// middleware. The registry dispatches a task to the processor of its type;
// a type it does not know fails with ErrNoProcessor (the task is retried,
// then archived, not lost), and a bad payload fails without retry.
func ExampleRegistry() {
	reg := tasks.NewRegistry()
	reg.MustRegister("email:send", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		var p struct{ To string }
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("email:send: payload: %w", errors.Join(err, asynq.SkipRetry))
		}
		fmt.Println("sending to", p.To)
		return nil
	}))
	if err := reg.Register("email:send", tasks.ProcessorFunc(nil)); errors.Is(err, tasks.ErrDuplicateType) {
		fmt.Println("registered twice:", err)
	}
	logger := slog.New(slog.DiscardHandler)
	handler := tasks.Chain(reg, tasks.Context(), tasks.Log(logger, tasks.LogOptions{}), tasks.Recover(logger))
	_ = handler // pass to asynq.Server.Start, or use the worker package

	ctx := context.Background()
	fmt.Println(reg.ProcessTask(ctx, asynq.NewTask("email:send", []byte(`{"To":"ada@example.com"}`))))
	err := reg.ProcessTask(ctx, asynq.NewTask("sms:send", nil))
	fmt.Println(errors.Is(err, tasks.ErrNoProcessor), err)
	err = reg.ProcessTask(ctx, asynq.NewTask("email:send", []byte("not json")))
	fmt.Println(errors.Is(err, asynq.SkipRetry))
	fmt.Println(reg.Types())
	// Output:
	// registered twice: tasks: register "email:send": task type already registered
	// sending to ada@example.com
	// <nil>
	// true tasks: no processor registered for task type "sms:send" (registered: email:send)
	// true
	// [email:send]
}

// A processor that cannot proceed yet snoozes its task: it runs again in
// 30 s, without using a retry and without counting as failed. One told by
// a remote service to slow down returns RateLimited with the delay asked.
func ExampleSnooze() {
	ready := func() bool { return false }
	p := tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		if !ready() {
			return tasks.Snooze(30 * time.Second)
		}
		return nil
	})
	err := p.ProcessTask(context.Background(), asynq.NewTask("report:build", nil))
	d, deferred := tasks.Deferral(err)
	fmt.Println(deferred, d.Reason, d.After, errors.Is(err, tasks.ErrDeferred))
	fmt.Println(tasks.RateLimited(2 * time.Second))
	// Output:
	// true snooze 30s true
	// task deferred (rate_limited) for 2s
}
