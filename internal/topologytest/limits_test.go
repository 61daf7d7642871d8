package topologytest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/tasks"
)

// limitGauge counts the tasks it runs at once and records when each
// started.
type limitGauge struct {
	mu     sync.Mutex
	now    int
	peak   int
	starts []time.Time
	hold   time.Duration
}

func (g *limitGauge) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	g.mu.Lock()
	g.now++
	g.peak = max(g.peak, g.now)
	g.starts = append(g.starts, time.Now())
	g.mu.Unlock()
	timer := time.NewTimer(g.hold)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	g.now--
	g.mu.Unlock()
	return nil
}

func (g *limitGauge) started() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.starts)
}

// testLimits: two workers share a concurrency limit and a rate limit on
// tasks whose queues live on three different nodes (in cluster mode; the
// limit's own keys are in one slot, {tuskq:limit:NAME}): the capped type
// never runs more than 2 at once, the rated one starts no faster than its
// rate, and every task completes with no retry.
func testLimits(t *testing.T, tp *topo) {
	qs := tp.queues(t, "lim", 3)
	if tp.cluster != nil && tp.nodes(t, qs) != 3 {
		t.Fatalf("queues %v span %d nodes; want 3", qs, tp.nodes(t, qs))
	}
	capped := &limitGauge{hold: 200 * time.Millisecond}
	rated := &limitGauge{}
	reg := tasks.NewRegistry()
	reg.MustRegister("topo:capped", capped)
	reg.MustRegister("topo:rated", rated)
	cfg := tp.config(weights(qs))
	cfg.Limits = []config.LimitConfig{
		{Name: "topo-capped", Type: "topo:capped", Concurrency: "2"},
		{Name: "topo-rated", Type: "topo:rated", Rate: "10/s"},
	}
	startWorker(t, cfg, reg)
	startWorker(t, cfg, reg)
	c := tp.client(t)
	const nCapped, nRated = 18, 11
	for i := range nCapped + nRated {
		typ := "topo:capped"
		if i >= nCapped {
			typ = "topo:rated"
		}
		if _, err := c.Enqueue(t.Context(), typ, fmt.Appendf(nil, `{"n":%d}`, i),
			&tasks.EnqueueOptions{Queue: qs[i%len(qs)], MaxRetry: new(int), Retention: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	insp := c.Inspector()
	poll(t, "every limited task completed", func() bool {
		done := 0
		for _, q := range qs {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				return false
			}
			if info.Archived > 0 || info.Retry > 0 {
				t.Fatalf("queue %s: %d archived, %d retry; want none (a limit charges no retry)", q, info.Archived, info.Retry)
			}
			done += info.Completed
		}
		return done == nCapped+nRated
	})
	if capped.started() != nCapped || rated.started() != nRated {
		t.Fatalf("%d capped and %d rated starts; want %d and %d (each once)", capped.started(), rated.started(), nCapped, nRated)
	}
	if capped.peak != 2 {
		t.Fatalf("the capped type ran %d at once; want 2 (the limit, reached)", capped.peak)
	}
	starts := slices.Clone(rated.starts)
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	// 11 starts at 10/s with a burst of 1: at least 10 intervals of 100 ms
	// (less a little for the clocks).
	if span := starts[len(starts)-1].Sub(starts[0]); span < 900*time.Millisecond {
		t.Fatalf("%d rated starts within %s; a rate of 10/s needs at least 1s", nRated, span)
	}
}
