package worker_test

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// queueRecorder records the queue of every task it processes, in order.
type queueRecorder struct {
	mu    sync.Mutex
	order []string
}

func (r *queueRecorder) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	q, _ := asynq.GetQueueName(ctx)
	r.mu.Lock()
	r.order = append(r.order, q)
	r.mu.Unlock()
	return nil
}

func (r *queueRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// requests returns n "test:q" tasks for each queue, interleaved.
func requests(n int, queues ...string) []tasks.Request {
	var reqs []tasks.Request
	for range n {
		for _, q := range queues {
			reqs = append(reqs, tasks.Request{Type: "test:q", Payload: []byte(`{}`), Options: tasks.EnqueueOptions{Queue: q}})
		}
	}
	return reqs
}

func TestStrictPriorityOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const perQueue = 1000
	e.enqueueMany(t, requests(perQueue, "low", "default", "critical"))

	rec := &queueRecorder{}
	reg := tasks.NewRegistry()
	reg.MustRegister("test:q", rec)
	cfg := e.config()
	cfg.Worker.StrictPriority = true
	cfg.Worker.Concurrency = 1 // one task at a time: processing order is fetch order
	start(t, e.options(t, cfg, reg))

	poll(t, "3,000 tasks processed", func() bool { return len(rec.snapshot()) == 3*perQueue })
	order := rec.snapshot()
	rank := map[string]int{"critical": 0, "default": 1, "low": 2}
	for i := 1; i < len(order); i++ {
		if rank[order[i]] < rank[order[i-1]] {
			t.Fatalf("task %d came from %q after a task from %q; strict priority processes critical, then default, then low", i, order[i], order[i-1])
		}
	}
	for i, want := range []string{"critical", "default", "low"} {
		if got := order[i*perQueue]; got != want {
			t.Errorf("task %d came from %q; want %q", i*perQueue, got, want)
		}
	}
}

func TestWeightedShares(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Enough in every queue that none runs dry among the first n fetches
	// (critical would need 1,000 of them; its expectation is 600).
	const perQueue, n = 1000, 1000
	e.enqueueMany(t, requests(perQueue, "low", "default", "critical"))

	rec := &queueRecorder{}
	reg := tasks.NewRegistry()
	reg.MustRegister("test:q", rec)
	cfg := e.config()
	cfg.Worker.Queues = map[string]int{"critical": 6, "default": 3, "low": 1}
	cfg.Worker.Concurrency = 1
	start(t, e.options(t, cfg, reg))

	poll(t, "1,000 tasks processed", func() bool { return len(rec.snapshot()) >= n })
	counts := map[string]int{}
	for _, q := range rec.snapshot()[:n] {
		counts[q]++
	}
	// While every queue has tasks, asynq fetches from the first queue of a
	// random shuffle of the weighted list, so each fetch independently picks
	// a queue with probability weight/10. A share over n fetches is then
	// binomial with standard deviation sqrt(p(1-p)/n): 1.5 points for 60 %,
	// 1.4 for 30 %, 0.9 for 10 %. Allowing 5 standard deviations makes a
	// false failure a one-in-a-million event (per queue), while a scheduler
	// that ignored weights (33 % each) would miss by 18 or more deviations.
	for q, p := range map[string]float64{"critical": 0.6, "default": 0.3, "low": 0.1} {
		share := float64(counts[q]) / n
		tol := 5 * math.Sqrt(p*(1-p)/n)
		t.Logf("%s: %.1f%% (want %.0f%% ± %.1f)", q, 100*share, 100*p, 100*tol)
		if math.Abs(share-p) > tol {
			t.Errorf("%s got %.1f%% of the first %d tasks; want %.0f%% ± %.1f", q, 100*share, n, 100*p, 100*tol)
		}
	}
}
