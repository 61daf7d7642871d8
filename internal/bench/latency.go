package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Metric names of the latency phase.
const (
	MetricP50      = "pickup p50"
	MetricP99      = "pickup p99"
	MetricMax      = "pickup max"
	MetricIdleCmds = "idle Redis commands/s"
)

// latencyPayload is the payload of a latency task.
type latencyPayload struct {
	EnqueuedNS int64 `json:"enqueued_ns"`
}

// latencyResult is one latency measurement of one target.
type latencyResult struct {
	p50, p99, max time.Duration
	idleCmds      float64 // Redis commands/s while idle
}

// runLatency measures each target's idle cost and pickup latency, round by
// round.
func runLatency(ctx context.Context, env *Env, opts Options) (Section, error) {
	var s series
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for round := 1; round <= opts.Rounds; round++ {
		for _, t := range opts.LatencyTargets {
			// The same gaps for every target of a round.
			rng := rand.New(rand.NewPCG(opts.Seed, uint64(round)))
			r, err := latencyOnce(ctx, env, opts, t, rng)
			if err != nil {
				return Section{}, fmt.Errorf("round %d, %s: %w", round, t.Name, err)
			}
			progress(opts, "latency    round %d/%d  %-40s p50 %8s ms  p99 %8s ms  max %8s ms  idle %6s cmds/s",
				round, opts.Rounds, t.Name, Format(ms(r.p50), 1), Format(ms(r.p99), 1), Format(ms(r.max), 1), Format(r.idleCmds, 1))
			s.add(t, MetricP50, "ms", 1, ms(r.p50))
			s.add(t, MetricP99, "ms", 1, ms(r.p99))
			s.add(t, MetricMax, "ms", 1, ms(r.max))
			s.add(t, MetricIdleCmds, "", 1, r.idleCmds)
		}
	}
	return Section{
		Key:   PhaseLatency,
		Title: "Pickup latency and idle cost of a worker at default settings",
		About: fmt.Sprintf(`Each target starts on an empty database with all its defaults (the tuskq worker: config.Default(); bare asynq: asynq.Config{}), runs idle for %s, and then its Redis commands are counted over %s (delta of INFO total_commands_processed, less the INFO itself; it includes everything the server does while idle: queue polls, heartbeats, forwarder, recoverer). Then %d tasks are enqueued one at a time with tasks.Client.Enqueue, %s to %s apart (uniformly random, seed %d, the same gaps for every target); each payload carries time.Now().UnixNano() taken just before Enqueue, and the handler records its own time.Now() minus that, so the latency includes the enqueue round trip.`,
			opts.IdleSettle, opts.IdleWindow, opts.LatencyTasks, opts.GapMin, opts.GapMax, opts.Seed),
		Rows: s.done(),
	}, nil
}

// latencyOnce runs one target idle, then feeds it tasks one at a time.
func latencyOnce(ctx context.Context, env *Env, opts Options, t Target, rng *rand.Rand) (res latencyResult, err error) {
	if err := env.reset(ctx); err != nil {
		return res, err
	}
	var (
		mu     sync.Mutex
		lats   = make([]time.Duration, 0, opts.LatencyTasks)
		bad    error
		done   = make(chan struct{})
		closed bool
	)
	h := func(_ context.Context, task *asynq.Task) error {
		now := time.Now().UnixNano()
		var p latencyPayload
		perr := json.Unmarshal(task.Payload(), &p)
		mu.Lock()
		defer mu.Unlock()
		if perr != nil && bad == nil {
			bad = fmt.Errorf("latency task payload %q: %w", task.Payload(), perr)
		}
		lats = append(lats, time.Duration(now-p.EnqueuedNS))
		if len(lats) >= opts.LatencyTasks && !closed {
			closed = true
			close(done)
		}
		return nil
	}
	stop, err := t.Start(ctx, env.Addr, h)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	if err := sleep(ctx, opts.IdleSettle); err != nil {
		return res, err
	}
	s0, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, opts.IdleWindow); err != nil {
		return res, err
	}
	s1, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	res.idleCmds = float64(s1.redisCmds-s0.redisCmds-1) / s1.at.Sub(s0.at).Seconds()

	span := int64(opts.GapMax - opts.GapMin)
	for i := range opts.LatencyTasks {
		gap := opts.GapMin
		if span > 0 {
			gap += time.Duration(rng.Int64N(span + 1))
		}
		if err := sleep(ctx, gap); err != nil {
			return res, err
		}
		payload, _ := json.Marshal(latencyPayload{EnqueuedNS: time.Now().UnixNano()})
		if _, err := env.Client.Enqueue(ctx, TaskType, payload, nil); err != nil {
			return res, fmt.Errorf("enqueue latency task %d: %w", i+1, err)
		}
	}
	err = await(ctx, done, opts.WaitTimeout, func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d of %d latency tasks picked up", len(lats), opts.LatencyTasks)
	})
	if err != nil {
		return res, err
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		return res, bad
	}
	sorted := append([]time.Duration(nil), lats...)
	res.p50 = Percentile(sorted, 50)
	res.p99 = Percentile(sorted, 99)
	res.max = Percentile(sorted, 100)
	return res, nil
}
