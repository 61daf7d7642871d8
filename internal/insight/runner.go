package insight

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observer is told about each anomaly raised (resolved false) and
// resolved (resolved true) by the replica that runs the engine. It is
// called on the runner's goroutine and must not block.
type Observer func(ctx context.Context, a Anomaly, resolved bool)

// RunnerOptions configures NewRunner.
type RunnerOptions struct {
	// Config tunes the engine.
	Config Config
	// Owner identifies this monitor replica for the lease.
	Owner string
	// Queues reads the queue sizes at each tick.
	Queues func(ctx context.Context) ([]QueueStat, error)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger receives a line per failed tick (nil: discarded).
	Logger *slog.Logger
	// Observers are told about anomalies raised and resolved.
	Observers []Observer
}

// Runner runs the engine on one monitor replica: at each tick the
// replica holding the lease reads the snapshots and queue sizes, ticks
// the engine and saves its state and report; the others read the report.
type Runner struct {
	store  *Store
	opts   RunnerOptions
	engine *Engine
	leader bool

	mu   sync.Mutex
	last *Report
	obs  []Observer
}

// NewRunner returns a Runner on store.
func NewRunner(store *Store, opts RunnerOptions) (*Runner, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Queues == nil {
		opts.Queues = func(context.Context) ([]QueueStat, error) { return nil, nil }
	}
	e, err := New(opts.Config, nil)
	if err != nil {
		return nil, err
	}
	return &Runner{store: store, opts: opts, engine: e, obs: append([]Observer(nil), opts.Observers...)}, nil
}

// Observe adds an observer (the event hook, the notifier). Call it before
// Run.
func (r *Runner) Observe(o Observer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs = append(r.obs, o)
}

// Config returns the engine's configuration.
func (r *Runner) Config() Config { return r.engine.Config() }

// Report returns the latest report, nil before the first tick.
func (r *Runner) Report() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Run ticks every interval until ctx is done. A failing tick is logged
// (once until a tick works again) and the next one tried.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.engine.Config().Interval)
	defer t.Stop()
	failing := false
	for {
		// One line when ticks start failing (Redis down, say) and one
		// when they work again, not one every 5 s.
		switch err := r.Step(ctx); {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			r.opts.Logger.WarnContext(ctx, "insight ticks failing; the Insight page shows the last report", "error", err)
		case err == nil && failing:
			failing = false
			r.opts.Logger.InfoContext(ctx, "insight ticks work again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step runs one tick.
func (r *Runner) Step(ctx context.Context) error {
	cfg := r.engine.Config()
	now := r.opts.Now()
	leader, err := r.store.Lease(ctx, r.opts.Owner, leaseTTL(cfg))
	if err != nil {
		return err
	}
	if !leader {
		r.leader = false
		rep, err := r.store.LoadReport(ctx)
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		r.setLast(rep)
		return nil
	}
	if !r.leader {
		// Taking over (or starting): continue from the saved state.
		st, err := r.store.LoadState(ctx)
		if err != nil {
			return err
		}
		r.engine.SetState(st)
		r.leader = true
	}
	snaps, err := r.store.Snapshots(ctx, now, 3*cfg.Interval)
	if err != nil {
		return err
	}
	queues, err := r.opts.Queues(ctx)
	if err != nil {
		return fmt.Errorf("insight: reading the queues: %w", err)
	}
	rep := r.engine.Tick(now, snaps, queues)
	if err := r.store.SaveState(ctx, r.engine.State()); err != nil {
		return err
	}
	if err := r.store.SaveReport(ctx, rep, leaseTTL(cfg)); err != nil {
		return err
	}
	r.setLast(rep)
	r.mu.Lock()
	obs := r.obs
	r.mu.Unlock()
	for _, o := range obs {
		for _, a := range rep.Raised {
			o(ctx, a, false)
		}
		for _, a := range rep.Resolved {
			o(ctx, a, true)
		}
	}
	return nil
}

// leaseTTL is how long the lease and the report last without a tick:
// three intervals, at least 5 s (a slow tick must not hand the engine to
// another replica, which would start its window afresh).
func leaseTTL(cfg Config) time.Duration { return max(3*cfg.Interval, 5*time.Second) }

func (r *Runner) setLast(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = rep
}

// PublisherOptions configures Publish.
type PublisherOptions struct {
	// Interval is the time between publications (default 5s).
	Interval time.Duration
	// Logger receives a line per failed publication (nil: discarded).
	Logger *slog.Logger
}

// Publish writes rec's snapshot to store every interval until ctx is
// done, then removes it (with a short timeout of its own). It is the
// worker's side: one HSET and one PEXPIRE per interval.
func Publish(ctx context.Context, store *Store, rec *Recorder, opts PublisherOptions) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if err := store.Publish(ctx, rec.Snapshot(), 6*opts.Interval); err != nil && ctx.Err() == nil {
			opts.Logger.WarnContext(ctx, "publishing the insight snapshot", "error", err)
		}
		select {
		case <-ctx.Done():
			rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = store.Remove(rm, rec.Worker())
			return
		case <-t.C:
		}
	}
}
