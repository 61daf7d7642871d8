package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// Metric names of the burst phase.
const (
	MetricEmptyFetches  = "empty fetches"
	MetricSingleFetches = "fetches per single task"
	MetricBurstRate     = "burst throughput (tasks/s)"
)

// runBurst starts opts.BurstWorkers idle tuskq workers at their defaults
// but one queue, feeds them single tasks one at a time and then a burst
// of opts.BurstTasks, checks that every task is processed exactly once,
// and counts the fetches, round by round.
func runBurst(ctx context.Context, env *Env, opts Options) (Section, error) {
	var s series
	t := Target{Key: "burst", Name: fmt.Sprintf("%d idle tuskq workers, burst of %d", opts.BurstWorkers, opts.BurstTasks)}
	for round := 1; round <= opts.Rounds; round++ {
		if err := env.reset(ctx); err != nil {
			return Section{}, err
		}
		r, err := burstRound(ctx, env, opts)
		if err != nil {
			return Section{}, fmt.Errorf("round %d: %w", round, err)
		}
		progress(opts, "burst      round %d/%d  %-40s %6s fetches/single task  %6s empty fetches  %8s tasks/s",
			round, opts.Rounds, t.Name, Format(r.single, 2), Format(r.empty, 0), Format(r.rate, 0))
		s.add(t, MetricSingleFetches, "", 2, r.single)
		s.add(t, MetricEmptyFetches, "", 0, r.empty)
		s.add(t, MetricBurstRate, "", 0, r.rate)
	}
	sec := Section{
		Key:   PhaseBurst,
		Title: "Idle workers woken by single tasks and by a burst",
		About: fmt.Sprintf(`%d idle tuskq workers at config.Default() but one queue (so that every fetch is one RPOPLPUSH, counted from INFO commandstats), worker.wake_fallback an hour (so that no fallback fetch is counted: an idle worker's fallback fetches are the fleet phase's business) and worker.listen off run in this process. %d single tasks are enqueued one at a time, each once the previous one was processed: the fetches per single task count the fetch that found it and the empty ones around it (1 fetch would be none wasted; a thundering herd would be about one per idle worker). Then %d tasks are enqueued with EnqueueMany; every task must be processed exactly once (the phase fails otherwise), and the fetches beyond one per task are the empty fetches.`,
			opts.BurstWorkers, burstSingles, opts.BurstTasks),
		Rows: s.done(),
	}
	sec.addGoal("fetches per single task among the idle workers", MetricSingleFetches, "burst", 3, true, 2)
	return sec, nil
}

// burstSingles is how many single tasks the burst phase enqueues.
const burstSingles = 20

type burstResult struct {
	single, empty, rate float64
}

func burstRound(ctx context.Context, env *Env, opts Options) (res burstResult, err error) {
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		tick = make(chan struct{}, 1)
	)
	h := func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		mu.Lock()
		seen[id]++
		mu.Unlock()
		select {
		case tick <- struct{}{}:
		default:
		}
		return nil
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	var stops []StopFunc
	defer func() {
		for _, stop := range stops {
			err = errors.Join(err, stop())
		}
	}()
	cfg := TuskqDefaults(0)
	cfg.Worker.Listen = ""
	cfg.Worker.Queues = map[string]int{"default": 1}
	// No fallback fetch within the phase: every fetch counted is one a
	// token (or the end of a server's run of tasks) caused.
	cfg.Worker.WakeFallback = time.Hour
	stops, err = startWorkers(ctx, env, opts.BurstWorkers, cfg, h)
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, opts.IdleSettle); err != nil {
		return res, err
	}

	f0, err := env.fetches(ctx)
	if err != nil {
		return res, err
	}
	for i := range burstSingles {
		if _, err := env.Client.Enqueue(ctx, TaskType, []byte("{}"), nil); err != nil {
			return res, fmt.Errorf("enqueue single task %d: %w", i+1, err)
		}
		if err := awaitCount(ctx, opts, tick, count, i+1); err != nil {
			return res, err
		}
	}
	// Let the woken servers make their empty fetch.
	settle := max(opts.IdleSettle, 500*time.Millisecond)
	if err := sleep(ctx, settle); err != nil {
		return res, err
	}
	f1, err := env.fetches(ctx)
	if err != nil {
		return res, err
	}
	res.single = float64(f1-f0) / burstSingles

	reqs := make([]tasks.Request, opts.BurstTasks)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: TaskType, Payload: []byte("{}")}
	}
	s0, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	// Redis is busy with the workers' fetches: the burst's producer waits
	// longer than the default 2 s for a reply.
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: env.Addr, ReadTimeout: 30 * time.Second},
		tasks.ClientOptions{EnqueueTimeout: 30 * time.Second})
	if err != nil {
		return res, err
	}
	defer client.Close()
	ids := make([]string, 0, len(reqs))
	for i, r := range client.EnqueueMany(ctx, reqs, 0) {
		if r.Err != nil {
			return res, fmt.Errorf("enqueue burst task %d: %w", i+1, r.Err)
		}
		ids = append(ids, r.Info.ID)
	}
	if err := awaitCount(ctx, opts, tick, count, burstSingles+opts.BurstTasks); err != nil {
		return res, err
	}
	s1, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	res.rate = float64(opts.BurstTasks) / s1.at.Sub(s0.at).Seconds()
	if err := sleep(ctx, settle); err != nil {
		return res, err
	}
	f2, err := env.fetches(ctx)
	if err != nil {
		return res, err
	}
	res.empty = float64(f2 - f1 - int64(opts.BurstTasks))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			return res, fmt.Errorf("burst task %s processed %d times; want exactly once", id, seen[id])
		}
	}
	if len(seen) != burstSingles+opts.BurstTasks {
		return res, fmt.Errorf("%d distinct tasks processed; want %d", len(seen), burstSingles+opts.BurstTasks)
	}
	return res, nil
}

// awaitCount waits until count() reaches n, woken by tick.
func awaitCount(ctx context.Context, opts Options, tick <-chan struct{}, count func() int, n int) error {
	done := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for count() < n {
			select {
			case <-tick:
			case <-stop:
				return
			}
		}
		close(done)
	}()
	return await(ctx, done, opts.WaitTimeout, func() string {
		return fmt.Sprintf("%d of %d tasks processed", count(), n)
	})
}

// fetches returns how many RPOPLPUSH Redis ran (INFO commandstats): one
// per fetch when the workers serve one queue.
func (e *Env) fetches(ctx context.Context) (int64, error) {
	info, err := e.info(ctx, "commandstats")
	if err != nil {
		return 0, err
	}
	v := info["cmdstat_rpoplpush"]
	if v == "" {
		return 0, nil
	}
	calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
	n, err := strconv.ParseInt(calls, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis INFO commandstats: rpoplpush %q: %w", v, err)
	}
	return n, nil
}
