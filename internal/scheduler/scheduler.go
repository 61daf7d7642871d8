// Package scheduler runs the fleet's periodic tasks: the store of schedules
// in Redis (Store: the configuration's and those added at run time) and
// the loop every worker process runs (Scheduler) that enqueues each tick.
//
// Every replica schedules, and each tick is enqueued once: the task of a
// tick has the ID sched:NAME:UNIXSEC (schedule.TaskID), so when several
// replicas enqueue the same tick Redis stores the first and refuses the
// others (asynq.ErrTaskIDConflict, which the scheduler counts as done).
// There is no leader to lose. Each schedule's last tick handled is kept in
// Redis, advanced by a script that only moves it forward, so a replica
// that comes late finds the tick done and enqueues nothing, and the
// replicas that start after an outage find the ticks they missed and apply
// the schedule's missed-tick policy. A tick's task is kept for at least
// MinRetention after it completes, so that its ID stays taken while a slow
// replica may still try it.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/tasks"
)

// MinRetention is the least time a tick's completed task is kept: while it
// is kept its ID refuses a second enqueue of the same tick.
const MinRetention = 5 * time.Minute

// EntriesID is the scheduler ID under which the schedules are listed for
// asynqmon's scheduler view (asynq:schedulers:{tuskq}); every replica
// writes the same list.
const EntriesID = "tuskq"

const (
	// entriesTTL is how long the listed entries live without a rewrite.
	entriesTTL = 30 * time.Second
	// entriesEvery is how often the entries are rewritten (by whichever
	// replica finds them older than this).
	entriesEvery = 10 * time.Second
)

// Options configure a Scheduler.
type Options struct {
	// Client enqueues the ticks' tasks and looks up the previous tick's
	// task (overlap skip). Required.
	Client *tasks.Client
	// Redis holds the store. Required.
	Redis redis.UniversalClient
	// Logger receives the scheduler's lines; nil discards them.
	Logger *slog.Logger
	// Config, when Reconcile is set, are the configuration's schedules,
	// put in the store at start; configuration schedules the store holds
	// and Config lacks are removed.
	Config []*schedule.Schedule
	// Reconcile makes Run reconcile Config with the store first.
	Reconcile bool
	// Poll is how often the store's version is checked for changes and
	// the longest the loop sleeps; 0 means 1s.
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Scheduler enqueues the ticks of the stored schedules. Run it in every
// worker process.
type Scheduler struct {
	client  *tasks.Client
	store   *Store
	rdb     redis.UniversalClient
	logger  *slog.Logger
	config  []*schedule.Schedule
	reconc  bool
	poll    time.Duration
	now     func() time.Time
	version int64
	loaded  bool
	entries map[string]*entry
	written time.Time // when this replica last checked the scheduler view's entries

	mu    sync.Mutex
	stats Stats
}

// Stats count what a Scheduler did.
type Stats struct {
	// Enqueued counts the ticks this replica enqueued.
	Enqueued int
	// Duplicates counts the ticks another replica had enqueued first.
	Duplicates int
	// Overlaps counts the ticks skipped because the previous one was
	// still running.
	Overlaps int
}

// entry is a schedule as the loop tracks it.
type entry struct {
	s      *schedule.Schedule
	js     string // its definition, to notice changes
	paused bool
	due    time.Time // zero: read the ticks from Redis first
	prev   time.Time // newest tick enqueued, as last seen
}

// New checks opts and returns a Scheduler.
func New(opts Options) (*Scheduler, error) {
	if opts.Client == nil || opts.Redis == nil {
		return nil, errors.New("scheduler: Options.Client and Options.Redis are required")
	}
	s := &Scheduler{
		client:  opts.Client,
		store:   NewStore(opts.Redis),
		rdb:     opts.Redis,
		logger:  opts.Logger,
		config:  opts.Config,
		reconc:  opts.Reconcile,
		poll:    opts.Poll,
		now:     opts.Now,
		entries: map[string]*entry{},
		version: -1,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.poll <= 0 {
		s.poll = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Stats returns what the scheduler did so far.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run enqueues ticks until ctx is done; it returns nil then. Redis errors
// are logged and retried on the next pass: ticks that pass meanwhile are
// found missed when Redis answers again.
func (s *Scheduler) Run(ctx context.Context) error {
	reconciled := !s.reconc
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if !reconciled {
			removed, err := s.store.Reconcile(ctx, s.config)
			if err != nil {
				s.logger.WarnContext(ctx, "scheduler: cannot reconcile the configuration's schedules; retrying", "error", err)
				timer.Reset(s.poll)
				continue
			}
			reconciled = true
			s.logger.InfoContext(ctx, "scheduler: configuration schedules in place", "schedules", len(s.config), "removed", removed)
		}
		wake := s.pass(ctx)
		d := max(time.Until(wake), time.Millisecond)
		timer.Reset(min(d, s.poll))
	}
}

// pass reloads the store when it changed, enqueues what is due, and
// returns when the next tick is due.
func (s *Scheduler) pass(ctx context.Context) time.Time {
	now := s.now()
	if err := s.refresh(ctx, now); err != nil {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "scheduler: cannot read the schedules", "error", err)
		}
		return now.Add(s.poll)
	}
	wake := now.Add(s.poll)
	for _, name := range slices.Sorted(maps.Keys(s.entries)) {
		e := s.entries[name]
		if e.paused {
			continue
		}
		if e.due.IsZero() || !now.Before(e.due) {
			if err := s.fire(ctx, e, now); err != nil {
				if ctx.Err() == nil {
					s.logger.WarnContext(ctx, "scheduler: tick failed; retrying", "schedule", name, "error", err)
				}
				e.due = time.Time{}
				continue
			}
		}
		if e.due.Before(wake) {
			wake = e.due
		}
	}
	if now.Sub(s.written) >= entriesEvery/2 {
		s.written = now
		if err := s.writeEntries(ctx, now); err != nil && ctx.Err() == nil {
			s.logger.DebugContext(ctx, "scheduler: cannot list the schedules for asynqmon", "error", err)
		}
	}
	return wake
}

// refresh reloads the schedules when the store's version changed.
func (s *Scheduler) refresh(ctx context.Context, now time.Time) error {
	v, err := s.store.Version(ctx)
	if err != nil {
		return err
	}
	if s.loaded && v == s.version {
		return nil
	}
	list, err := s.store.List(ctx, now)
	if err != nil && list == nil {
		return err
	}
	if err != nil {
		s.logger.WarnContext(ctx, "scheduler: skipping schedules", "error", err)
	}
	seen := map[string]bool{}
	for _, le := range list {
		name := le.Schedule.Name
		seen[name] = true
		js, _ := le.Schedule.MarshalJSON()
		e, ok := s.entries[name]
		if !ok || e.js != string(js) || e.paused != le.Paused {
			e = &entry{s: le.Schedule, js: string(js), paused: le.Paused}
			s.entries[name] = e
		}
	}
	for name := range s.entries {
		if !seen[name] {
			delete(s.entries, name)
		}
	}
	s.version, s.loaded = v, true
	return nil
}

// fire reads the schedule's ticks from Redis, enqueues the due ones by its
// missed policy, and advances its last tick.
func (s *Scheduler) fire(ctx context.Context, e *entry, now time.Time) error {
	name := e.s.Name
	last, run, err := s.store.ticks(ctx, name)
	if err != nil {
		return err
	}
	plan := e.s.PlanTicks(last, now)
	e.prev = run
	if plan.Through.IsZero() {
		// Nothing due: the next tick after the last one (or now).
		e.due = e.s.Next(laterOf(last, now))
		return nil
	}
	for _, tk := range plan.Ticks {
		ok, err := s.enqueue(ctx, e, tk, run)
		if err != nil {
			return err
		}
		if ok {
			run = tk.At
		}
	}
	advanced, err := s.store.advance(ctx, name, plan.Through, run, plan.Dropped)
	if err != nil {
		return err
	}
	if advanced && plan.Dropped > 0 {
		s.logger.WarnContext(ctx, "scheduler: ticks missed", "schedule", name, "missed", plan.Dropped,
			"policy", e.s.Missed, "through", plan.Through.UTC().Format(time.RFC3339))
	}
	e.prev = run
	e.due = e.s.Next(plan.Through)
	return nil
}

// enqueue enqueues the task of one tick; ok says the tick has its task
// (enqueued by this replica or another), false that overlap skipped it.
func (s *Scheduler) enqueue(ctx context.Context, e *entry, tk schedule.Tick, run time.Time) (ok bool, err error) {
	sc := e.s
	id := schedule.TaskID(sc.Name, tk.At)
	queue := sc.Task.Options.Queue
	if queue == "" {
		queue = s.client.Queue(sc.Task.Type)
	}
	if sc.Overlap == schedule.OverlapSkip && !run.IsZero() {
		busy, state, err := s.running(queue, schedule.TaskID(sc.Name, run))
		if err != nil {
			return false, err
		}
		if busy {
			s.count(func(st *Stats) { st.Overlaps++ })
			s.logger.InfoContext(ctx, "scheduler: tick skipped: the previous one is still running", "schedule", sc.Name,
				"tick", tk.At.UTC().Format(time.RFC3339), "previous_task_id", schedule.TaskID(sc.Name, run), "previous_state", state)
			return false, nil
		}
	}
	o := sc.Task.Options
	headers := make(map[string]string, len(o.Headers)+3)
	for k, v := range o.Headers {
		headers[k] = v
	}
	headers[schedule.HeaderSchedule] = sc.Name
	headers[schedule.HeaderTick] = tk.At.UTC().Format(time.RFC3339)
	if tk.Missed > 0 {
		headers[schedule.HeaderMissed] = strconv.Itoa(tk.Missed)
	}
	opts := &tasks.EnqueueOptions{
		Queue:     queue,
		MaxRetry:  o.MaxRetry,
		Timeout:   o.Timeout,
		UniqueTTL: o.UniqueTTL,
		TaskID:    id,
		Retention: max(o.Retention, MinRetention),
		Headers:   headers,
	}
	if sc.Jitter > 0 {
		opts.ProcessIn = rand.N(sc.Jitter)
	}
	// A context without the caller's trace: each tick's task starts a new
	// trace.
	info, err := s.client.Enqueue(context.WithoutCancel(ctx), sc.Task.Type, sc.Task.Payload, opts)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		s.count(func(st *Stats) { st.Duplicates++ })
		return true, nil
	case errors.Is(err, asynq.ErrDuplicateTask):
		s.logger.InfoContext(ctx, "scheduler: tick not enqueued: an equal unique task exists", "schedule", sc.Name,
			"tick", tk.At.UTC().Format(time.RFC3339))
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueue %s: %w", id, err)
	}
	s.count(func(st *Stats) { st.Enqueued++ })
	s.logger.InfoContext(ctx, "scheduler: tick enqueued", "schedule", sc.Name, "tick", tk.At.UTC().Format(time.RFC3339),
		"task_id", info.ID, "queue", info.Queue, "trace_id", info.TraceID, "late", tk.Late)
	if err := asynqrdb.RecordSchedulerEnqueue(ctx, s.rdb, sc.Name, info.ID, s.now()); err != nil {
		s.logger.DebugContext(ctx, "scheduler: cannot record the enqueue for asynqmon", "schedule", sc.Name, "error", err)
	}
	return true, nil
}

// running reports whether the task id of queue is pending, scheduled,
// active or waiting for a retry.
func (s *Scheduler) running(queue, id string) (bool, string, error) {
	info, err := s.client.Inspector().GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("look up the previous tick's task %s: %w", id, err)
	}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateActive, asynq.TaskStateRetry:
		return true, info.State.String(), nil
	}
	return false, info.State.String(), nil
}

func (s *Scheduler) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// writeEntries lists the schedules for asynqmon's scheduler view, unless
// another replica did so recently.
func (s *Scheduler) writeEntries(ctx context.Context, now time.Time) error {
	ttl, err := asynqrdb.SchedulerEntriesTTL(ctx, s.rdb, EntriesID)
	if err != nil {
		return err
	}
	if ttl > entriesTTL-entriesEvery {
		return nil
	}
	list, err := s.store.List(ctx, now)
	if err != nil && list == nil {
		return err
	}
	entries := make([]asynqrdb.SchedulerEntry, 0, len(list))
	for _, le := range list {
		sc := le.Schedule
		opts := []string{fmt.Sprintf("Queue(%q)", sc.Queue())}
		if le.Paused {
			opts = append(opts, "Paused")
		}
		entries = append(entries, asynqrdb.SchedulerEntry{
			ID: sc.Name, Spec: sc.Cron, Type: sc.Task.Type, Payload: sc.Task.Payload,
			Opts: opts, Next: le.Next, Prev: le.Run,
		})
	}
	return asynqrdb.WriteSchedulerEntries(ctx, s.rdb, EntriesID, entries, entriesTTL)
}
