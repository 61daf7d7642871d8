package worker_test

import (
	"math"
	"os"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/tasks"
)

// A worker with several asynq servers keeps strict priority: each server
// fetches from the highest non-empty queue, so a lower queue's task can
// only overtake a higher one's at the moment the higher queue runs dry,
// while another server is fetching its last task.
func TestServersStrictPriority(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const perQueue, servers = 1000, 3
	e.enqueueMany(t, requests(perQueue, "low", "default", "critical"))
	rec := &queueRecorder{}
	reg := tasks.NewRegistry()
	reg.MustRegister("test:q", rec)
	cfg := e.config()
	cfg.Worker.StrictPriority = true
	cfg.Worker.Concurrency = servers // one task at a time per server
	opts := e.options(t, cfg, reg)
	opts.Servers = servers
	start(t, opts)

	poll(t, "3,000 tasks processed", func() bool { return len(rec.snapshot()) == 3*perQueue })
	order := rec.snapshot()
	rank := map[string]int{"critical": 0, "default": 1, "low": 2}
	// For each pair of queues, the tasks of the lower one processed before
	// the last task of the higher one: a handful at the boundary at most
	// (weights instead of strict priority would make it hundreds).
	const slack = 3 * servers
	for _, pair := range [][2]string{{"critical", "default"}, {"default", "low"}, {"critical", "low"}} {
		last := -1
		for i, q := range order {
			if q == pair[0] {
				last = i
			}
		}
		early := 0
		for _, q := range order[:last] {
			if rank[q] > rank[pair[0]] && q == pair[1] {
				early++
			}
		}
		if early > slack {
			t.Errorf("%d %s tasks processed before the last %s task; strict priority allows a few at the boundary (%d)", early, pair[1], pair[0], slack)
		}
	}
}

// A worker with several asynq servers keeps the weighted shares: every
// fetch of every server picks a queue with probability weight/total.
func TestServersWeightedShares(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const perQueue, n, servers = 1000, 1000, 3
	e.enqueueMany(t, requests(perQueue, "low", "default", "critical"))
	rec := &queueRecorder{}
	reg := tasks.NewRegistry()
	reg.MustRegister("test:q", rec)
	cfg := e.config()
	cfg.Worker.Queues = map[string]int{"critical": 6, "default": 3, "low": 1}
	cfg.Worker.Concurrency = servers
	opts := e.options(t, cfg, reg)
	opts.Servers = servers
	start(t, opts)

	poll(t, "1,000 tasks processed", func() bool { return len(rec.snapshot()) >= n })
	counts := map[string]int{}
	for _, q := range rec.snapshot()[:n] {
		counts[q]++
	}
	// See TestWeightedShares for the tolerance.
	for q, p := range map[string]float64{"critical": 0.6, "default": 0.3, "low": 0.1} {
		share := float64(counts[q]) / n
		tol := 5 * math.Sqrt(p*(1-p)/n)
		if math.Abs(share-p) > tol {
			t.Errorf("%s got %.1f%% of the first %d tasks; want %.0f%% ± %.1f", q, 100*share, n, 100*p, 100*tol)
		}
	}
}

// The servers of a worker share its concurrency, register with asynq as
// servers of this process, and leave together at shutdown (worker.wake
// poll, where they all run from start to shutdown; see spares_test.go for
// push).
func TestServersShareConcurrencyAndShutDownTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := tasks.NewRegistry()
	reg.MustRegister("test:q", &queueRecorder{})
	cfg := e.config()
	cfg.Worker.Wake = config.WakePoll
	cfg.Worker.Concurrency = 7
	opts := e.options(t, cfg, reg)
	opts.Servers = 3
	w := start(t, opts)
	insp := e.client.Inspector()

	var infos []*asynq.ServerInfo
	poll(t, "three asynq servers registered", func() bool {
		var err error
		infos, err = insp.Servers()
		return err == nil && len(infos) == 3
	})
	total := 0
	for _, s := range infos {
		if s.PID != os.Getpid() || s.Status != "active" || len(s.Queues) != 3 {
			t.Errorf("server %+v; want this process, active, the worker's three queues", s)
		}
		total += s.Concurrency
	}
	if total != 7 {
		t.Errorf("concurrency of the servers adds up to %d; want worker.concurrency 7", total)
	}
	e.enqueueMany(t, requests(50, "low", "default", "critical"))
	poll(t, "150 tasks processed", func() bool {
		for _, q := range []string{"critical", "default", "low"} {
			qi, err := insp.GetQueueInfo(q)
			if err != nil || qi.Pending+qi.Active > 0 {
				return false
			}
		}
		return true
	})
	if _, err := w.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if infos, err := insp.Servers(); err != nil || len(infos) != 0 {
		t.Errorf("after shutdown asynq lists servers %v (%v); want none", infos, err)
	}
}
