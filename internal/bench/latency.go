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
	MetricIdleCPU  = "idle Redis CPU"
)

// latencyPayload is the payload of a latency task.
type latencyPayload struct {
	EnqueuedNS int64 `json:"enqueued_ns"`
}

// latencyResult is one latency measurement of one target.
type latencyResult struct {
	p50, p99, max time.Duration
	idleCmds      float64 // Redis commands/s while idle
	idleCPU       float64 // Redis CPU while idle, % of one core
}

// runLatency measures each target's idle cost and pickup latency, round by
// round.
func runLatency(ctx context.Context, env *Env, opts Options) (Section, error) {
	rows, err := latencyRounds(ctx, env, opts, "latency", opts.LatencyTargets, opts.LatencyTasks)
	if err != nil {
		return Section{}, err
	}
	sec := Section{
		Key:   PhaseLatency,
		Title: "Pickup latency and idle cost of a worker at default settings",
		About: latencyAbout(opts, opts.LatencyTasks) + ` The tuskq worker runs config.Default() (its concurrency included); bare asynq asynq.Config{}.`,
		Rows:  rows,
	}
	sec.addGoal("tuskq worker pickup p99 at defaults (ms)", MetricP99, KeyTuskq, 20, true, 1)
	sec.addRatio("pickup p99, bare asynq / tuskq", MetricP99, KeyBare, KeyTuskq, 0)
	sec.addRatio("idle Redis commands/s, tuskq / bare asynq", MetricIdleCmds, KeyTuskq, KeyBare, 0)
	return sec, nil
}

// latencyAbout describes a latency measurement.
func latencyAbout(opts Options, n int) string {
	return fmt.Sprintf(`Each target starts on an empty database, runs idle for %s, and then its Redis commands and CPU are counted over %s (deltas of INFO total_commands_processed, less the INFO itself, and of used_cpu_user+used_cpu_sys as a percentage of one core; this includes everything the server does while idle: queue polls, heartbeats, forwarder, recoverer). Then %d tasks are enqueued one at a time with tasks.Client.Enqueue, %s to %s apart (uniformly random, seed %d, the same gaps for every target); each payload carries time.Now().UnixNano() taken just before Enqueue, and the handler records its own time.Now() minus that, so the latency includes the enqueue round trip.`,
		opts.IdleSettle, opts.IdleWindow, n, opts.GapMin, opts.GapMax, opts.Seed)
}

// latencyRounds measures targets round by round and returns the rows;
// phase names the progress lines.
func latencyRounds(ctx context.Context, env *Env, opts Options, phase string, targets []Target, n int) ([]Row, error) {
	var s series
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for round := 1; round <= opts.Rounds; round++ {
		for _, t := range rotate(targets, round) {
			// The same gaps for every target of a round.
			rng := rand.New(rand.NewPCG(opts.Seed, uint64(round)))
			r, err := latencyOnce(ctx, env, opts, t, rng, n)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, t.Name, err)
			}
			progress(opts, "%-10s round %d/%d  %-40s p50 %8s ms  p99 %8s ms  max %8s ms  idle %6s cmds/s %5s %% CPU",
				phase, round, opts.Rounds, t.Name, Format(ms(r.p50), 1), Format(ms(r.p99), 1), Format(ms(r.max), 1),
				Format(r.idleCmds, 1), Format(r.idleCPU, 2))
			s.add(t, MetricP50, "ms", 1, ms(r.p50))
			s.add(t, MetricP99, "ms", 1, ms(r.p99))
			s.add(t, MetricMax, "ms", 1, ms(r.max))
			s.add(t, MetricIdleCmds, "", 1, r.idleCmds)
			s.add(t, MetricIdleCPU, "% of a core", 2, r.idleCPU)
		}
	}
	return s.done(), nil
}

// latencyOnce runs one target idle, then feeds it tasks one at a time.
func latencyOnce(ctx context.Context, env *Env, opts Options, t Target, rng *rand.Rand, n int) (res latencyResult, err error) {
	if err := env.reset(ctx); err != nil {
		return res, err
	}
	var (
		mu     sync.Mutex
		lats   = make([]time.Duration, 0, n)
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
		if len(lats) >= n && !closed {
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
	window := s1.at.Sub(s0.at).Seconds()
	res.idleCmds = float64(s1.redisCmds-s0.redisCmds-1) / window
	res.idleCPU = 100 * (s1.redisCPU - s0.redisCPU).Seconds() / window

	span := int64(opts.GapMax - opts.GapMin)
	for i := range n {
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
		return fmt.Sprintf("%d of %d latency tasks picked up", len(lats), n)
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
