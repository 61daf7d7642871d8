package bench

import (
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// batch is the number of tasks per EnqueueMany call in BenchmarkEnqueueMany.
const batch = 1000

// benchClient starts a throwaway Redis for b and returns a tuskq client.
func benchClient(b *testing.B) (*tasks.Client, asynq.RedisConnOpt) {
	b.Helper()
	srv := redistest.Start(b)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, opt
}

// reportTasks adds tasks/s and ns/task, comparable across the enqueue
// benchmarks whatever one op is.
func reportTasks(b *testing.B, n int) {
	el := b.Elapsed()
	if n == 0 || el <= 0 {
		return
	}
	b.ReportMetric(float64(n)/el.Seconds(), "tasks/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(n), "ns/task")
}

// BenchmarkEnqueue enqueues one task per op, one at a time, with
// tasks.Client ("tuskq") and with a bare asynq.Client ("asynq").
func BenchmarkEnqueue(b *testing.B) {
	ctx := b.Context()
	payload := []byte(`{"n":1}`)
	b.Run("tuskq", func(b *testing.B) {
		c, _ := benchClient(b)
		n := 0
		for b.Loop() {
			if _, err := c.Enqueue(ctx, TaskType, payload, nil); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportTasks(b, n)
	})
	b.Run("asynq", func(b *testing.B) {
		_, opt := benchClient(b)
		c := asynq.NewClient(opt)
		defer c.Close()
		n := 0
		for b.Loop() {
			if _, err := c.EnqueueContext(ctx, asynq.NewTask(TaskType, payload)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportTasks(b, n)
	})
}

// BenchmarkEnqueueMany enqueues 1,000 tasks per op with
// tasks.Client.EnqueueMany at its default parallelism; compare its ns/task
// and tasks/s with BenchmarkEnqueue/tuskq.
func BenchmarkEnqueueMany(b *testing.B) {
	ctx := b.Context()
	c, _ := benchClient(b)
	reqs := make([]tasks.Request, batch)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: TaskType, Payload: []byte(`{"n":1}`)}
	}
	n := 0
	for b.Loop() {
		for i, r := range c.EnqueueMany(ctx, reqs, 0) {
			if r.Err != nil {
				b.Fatalf("task %d: %v", i, r.Err)
			}
		}
		n += batch
	}
	reportTasks(b, n)
}
