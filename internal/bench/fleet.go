package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/worker"
)

// DefaultFleetSizes are the numbers of idle workers the fleet phase runs
// at once.
var DefaultFleetSizes = []int{1, 10, 100, 500}

// runFleet measures the Redis commands/s and Redis CPU of n idle tuskq
// workers at their defaults, for each n of opts.FleetSizes, round by round.
func runFleet(ctx context.Context, env *Env, opts Options) (Section, error) {
	var s series
	for round := 1; round <= opts.Rounds; round++ {
		if err := env.reset(ctx); err != nil {
			return Section{}, err
		}
		cmds, cpu, err := fleetRound(ctx, env, opts)
		if err != nil {
			return Section{}, fmt.Errorf("round %d: %w", round, err)
		}
		for i, n := range opts.FleetSizes {
			t := Target{Key: fmt.Sprintf("fleet-%d", n), Name: fmt.Sprintf("%d idle tuskq workers", n)}
			progress(opts, "fleet      round %d/%d  %-40s idle %8s cmds/s %5s %% CPU", round, opts.Rounds, t.Name, Format(cmds[i], 0), Format(cpu[i], 2))
			s.add(t, MetricIdleCmds, "", 0, cmds[i])
			s.add(t, MetricIdleCPU, "% of a core", 2, cpu[i])
		}
	}
	sec := Section{
		Key:   PhaseFleet,
		Title: "Idle cost of several workers on one Redis",
		About: fmt.Sprintf(`Idle tuskq workers at config.Default() (up to %d asynq servers each, one while idle; worker.listen off) are started in this process, growing to each size in turn; after %s idle the Redis commands/s and Redis CPU are counted over %s (INFO deltas, as in the latency phase; Redis's own background work, about 0.2 %% of a core, included). The workers share this process's 2 cores, so beyond some size they poll late and the figures understate what separate machines would cost.`,
			worker.DefaultServers, opts.IdleSettle, opts.IdleWindow),
		Rows: s.done(),
	}
	if last := opts.FleetSizes[len(opts.FleetSizes)-1]; last >= 500 {
		sec.addGoal(fmt.Sprintf("Redis CPU of %d idle workers (%% of a core)", last), MetricIdleCPU, fmt.Sprintf("fleet-%d", last), 5, true, 2)
	}
	sec.addGoal("Redis commands/s of 1 idle worker", MetricIdleCmds, "fleet-1", 10, true, 1)
	return sec, nil
}

// fleetRound grows a fleet of idle workers through opts.FleetSizes and
// measures each size; it stops every worker before it returns.
func fleetRound(ctx context.Context, env *Env, opts Options) (cmds, cpu []float64, err error) {
	var stops []StopFunc
	defer func() {
		for _, stop := range stops {
			err = errors.Join(err, stop())
		}
	}()
	h := func(context.Context, *asynq.Task) error { return nil }
	for _, n := range opts.FleetSizes {
		cfg := TuskqDefaults(0)
		cfg.Worker.Listen = ""
		more, err := startWorkers(ctx, env, n-len(stops), cfg, h)
		stops = append(stops, more...)
		if err != nil {
			return nil, nil, err
		}
		if err := sleep(ctx, opts.IdleSettle); err != nil {
			return nil, nil, err
		}
		s0, err := env.snapshot(ctx)
		if err != nil {
			return nil, nil, err
		}
		if err := sleep(ctx, opts.IdleWindow); err != nil {
			return nil, nil, err
		}
		s1, err := env.snapshot(ctx)
		if err != nil {
			return nil, nil, err
		}
		window := s1.at.Sub(s0.at).Seconds()
		cmds = append(cmds, float64(s1.redisCmds-s0.redisCmds-1)/window)
		cpu = append(cpu, 100*(s1.redisCPU-s0.redisCPU).Seconds()/window)
	}
	return cmds, cpu, nil
}

// startWorkers starts n idle tuskq workers with cfg, 16 at a time, and
// returns the stop functions of those started (all of them unless err).
func startWorkers(ctx context.Context, env *Env, n int, cfg config.Config, h Handler) ([]StopFunc, error) {
	var (
		mu    sync.Mutex
		stops []StopFunc
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 16)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			stop, err := TuskqWorker(fmt.Sprintf("idle-worker-%d", i), "idle worker", cfg).Start(ctx, env.Addr, h)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			stops = append(stops, stop)
		})
	}
	wg.Wait()
	return stops, errors.Join(errs...)
}
