package tasks_test

import (
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// benchClient starts a Redis for b and returns a client over it.
func benchClient(b *testing.B) *tasks.Client {
	b.Helper()
	srv := redistest.Start(b)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkEnqueue enqueues one task per op, one at a time.
func BenchmarkEnqueue(b *testing.B) {
	ctx := b.Context()
	c := benchClient(b)
	payload := []byte(`{"n":1}`)
	for b.Loop() {
		if _, err := c.Enqueue(ctx, "bench:x", payload, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueMany enqueues 1,000 tasks per op with EnqueueMany at its
// default parallelism.
func BenchmarkEnqueueMany(b *testing.B) {
	ctx := b.Context()
	c := benchClient(b)
	reqs := make([]tasks.Request, 1000)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "bench:x", Payload: []byte(`{"n":1}`)}
	}
	for b.Loop() {
		for i, r := range c.EnqueueMany(ctx, reqs, 0) {
			if r.Err != nil {
				b.Fatalf("task %d: %v", i, r.Err)
			}
		}
	}
}
