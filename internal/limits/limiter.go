package limits

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/tasks"
)

// Defaults of a Limiter.
const (
	// DefaultLeaseTTL is how long a concurrency slot stays taken without
	// a renewal: a worker that dies (SIGKILL, OOM, lost network) stops
	// renewing, and its slots are free again at most this long after.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultMaxWait is the longest a task whose rate start is near waits
	// inside the worker rather than being deferred: asynq's schedule is in
	// whole seconds, so shorter waits are served in the worker to keep the
	// starts evenly spaced.
	DefaultMaxWait = 2 * time.Second
	// DefaultBackstop bounds how long a task refused by a concurrency
	// limit is deferred when no release promotes it sooner.
	DefaultBackstop = 5 * time.Second
	// keyIdle is how long a key value of a keyed limit stays tracked
	// after its last use.
	keyIdle = 10 * time.Minute
)

// Options configures a Limiter.
type Options struct {
	// LeaseTTL is the life of a concurrency slot's lease (DefaultLeaseTTL
	// when 0); running tasks renew theirs every LeaseTTL/3.
	LeaseTTL time.Duration
	// MaxWait is DefaultMaxWait when 0.
	MaxWait time.Duration
	// Backstop is DefaultBackstop when 0.
	Backstop time.Duration
	// Logger receives the limiter's warnings; nil discards them.
	Logger *slog.Logger
}

// Limiter enforces limits on the tasks a worker runs, together with every
// other worker using the same Redis. Create it with New, give it a Redis
// client with Start, and install Middleware in the worker's chain.
type Limiter struct {
	opts   Options
	logger *slog.Logger
	rdb    atomic.Pointer[redis.UniversalClient]
	set    atomic.Pointer[[]Limit]

	mu     sync.Mutex
	held   map[string]map[string]struct{} // slots key → task IDs holding a slot there
	clocks map[string]*clock              // limit name → its Redis node's clock
}

// clock maps the clock of the Redis node holding a limit to the worker's
// own, so that a task admitted to start at a Redis time starts at that
// time, however long its reply took to arrive (replies queue behind each
// other when many tasks are fetched at once). The offset comes from the
// round trip with the narrowest window between send and reply seen in
// the last clockRefresh: its error is at most half that window.
type clock struct {
	offset time.Duration // Redis time minus local time
	width  time.Duration // the window of the sample it comes from
	at     time.Time
}

// clockRefresh is how long a clock sample is kept before a wider one may
// replace it (the clocks drift apart slowly).
const clockRefresh = 30 * time.Second

// observe records a round trip sent at sent, answered at got, during which
// Redis read its clock as redisUS (µs), and returns the local time at
// which Redis's clock reads redisUS+wait.
func (l *Limiter) observe(name string, sent, got time.Time, redisUS int64, wait time.Duration) time.Time {
	redisNow := time.UnixMicro(redisUS)
	width := got.Sub(sent)
	mid := sent.Add(width / 2)
	l.mu.Lock()
	c := l.clocks[name]
	if c == nil {
		c = l.clocks[""] // Start's calibration, until a sample of this node
	}
	if c == nil || width <= c.width || got.Sub(c.at) > clockRefresh {
		c = &clock{offset: redisNow.Sub(mid), width: width, at: got}
		l.clocks[name] = c
	}
	offset := c.offset
	l.mu.Unlock()
	return redisNow.Add(wait).Add(-offset)
}

// New returns a limiter enforcing ls.
func New(ls []Limit, opts Options) *Limiter {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Backstop <= 0 {
		opts.Backstop = DefaultBackstop
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{opts: opts, logger: logger, held: map[string]map[string]struct{}{}, clocks: map[string]*clock{}}
	l.SetLimits(ls)
	return l
}

// SetLimits replaces the limits enforced from the next task on; tasks
// running keep the slots they hold until they end.
func (l *Limiter) SetLimits(ls []Limit) {
	cp := append([]Limit(nil), ls...)
	l.set.Store(&cp)
}

// Limits returns the limits enforced now.
func (l *Limiter) Limits() []Limit { return append([]Limit(nil), *l.set.Load()...) }

// Start gives the limiter its Redis client and renews the leases of the
// running tasks every LeaseTTL/3 until ctx ends.
func (l *Limiter) Start(ctx context.Context, rdb redis.UniversalClient) {
	l.calibrate(ctx, rdb)
	l.rdb.Store(&rdb)
	go l.renewLoop(ctx)
}

// calibrate reads Redis's clock a few times and keeps the narrowest round
// trip as the first clock mapping, so that the first tasks admitted by a
// rate limit (often many at once, when a backlog is waiting) start at their
// admitted times rather than by a mapping from one slow round trip.
func (l *Limiter) calibrate(ctx context.Context, rdb redis.UniversalClient) {
	var best *clock
	for range 5 {
		sent := time.Now()
		now, err := rdb.Time(ctx).Result()
		got := time.Now()
		if err != nil {
			return
		}
		width := got.Sub(sent)
		if best == nil || width < best.width {
			best = &clock{offset: now.Sub(sent.Add(width / 2)), width: width, at: got}
		}
	}
	l.mu.Lock()
	l.clocks[""] = best
	l.mu.Unlock()
}

// renewLoop renews the held leases until ctx ends.
func (l *Limiter) renewLoop(ctx context.Context) {
	tick := time.NewTicker(l.opts.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.renew(ctx)
		}
	}
}

// renew renews every held lease, one script per slots key, in one
// pipeline.
func (l *Limiter) renew(ctx context.Context) {
	rdb := l.client()
	if rdb == nil {
		return
	}
	l.mu.Lock()
	calls := make(map[string][]any, len(l.held))
	for key, ids := range l.held {
		args := []any{l.opts.LeaseTTL.Milliseconds()}
		for id := range ids {
			args = append(args, id)
		}
		calls[key] = args
	}
	l.mu.Unlock()
	if len(calls) == 0 {
		return
	}
	pipe := rdb.Pipeline()
	for key, args := range calls {
		// EVAL, not Script.Run: in a pipeline, Run cannot fall back
		// from EVALSHA when Redis lacks the script (NOSCRIPT comes with
		// Exec), and no other command loads this one.
		refreshScript.Eval(ctx, pipe, []string{key}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
		l.logger.WarnContext(ctx, "limits: renewing concurrency slots failed; they expire unless the next renewal succeeds",
			"lease_ttl", l.opts.LeaseTTL, "error", err)
	}
}

func (l *Limiter) client() redis.UniversalClient {
	if p := l.rdb.Load(); p != nil {
		return *p
	}
	return nil
}

// Redis keys of a limit. All share the hash tag {tuskq:limit:NAME}.
func limitPrefix(name string) string { return "{tuskq:limit:" + name + "}" }
func keysKey(name string) string     { return limitPrefix(name) + ":keys" }
func slotsKey(name, kv string) string {
	return limitPrefix(name) + ":slots:" + kv
}
func waitersKey(name, kv string) string { return limitPrefix(name) + ":waiters:" + kv }
func rateKey(name, kv string) string    { return limitPrefix(name) + ":rate:" + kv }

// waiterMember is a waiting task as stored in a waiters set.
func waiterMember(queue, id string) string { return queue + "\n" + id }

// slot is a concurrency slot a task holds.
type slot struct {
	slots, waiters string
}

// Middleware returns the middleware that applies the limits: a task
// matched by a limit without a free slot or start returns a
// *tasks.DeferError (reason concurrency or rate, with the limit's name and
// when to come back) without running, which the worker turns into a
// deferral that charges no retry. A task that runs holds its slots until
// it returns; a release promotes the oldest task waiting for the slot.
func (l *Limiter) Middleware() tasks.Middleware {
	return func(next tasks.Processor) tasks.Processor {
		return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			return l.process(ctx, t, next)
		})
	}
}

// process runs one task under the limits that match it.
func (l *Limiter) process(ctx context.Context, t *asynq.Task, next tasks.Processor) error {
	ls := *l.set.Load()
	queue, _ := asynq.GetQueueName(ctx)
	var matched []Limit
	for _, lim := range ls {
		if lim.Matches(t.Type(), queue) {
			matched = append(matched, lim)
		}
	}
	rdb := l.client()
	if len(matched) == 0 || rdb == nil {
		return next.ProcessTask(ctx, t)
	}
	id, _ := asynq.GetTaskID(ctx)
	var held []slot
	defer func() { l.release(context.WithoutCancel(ctx), rdb, id, held) }()
	// Concurrency first: a rate start is not spent on a task that would
	// find no slot.
	for _, lim := range matched {
		if lim.Concurrency == 0 {
			continue
		}
		s, wait, ok, err := l.acquire(ctx, rdb, lim, t, queue, id)
		if err != nil {
			return l.unavailable(ctx, lim, tasks.ReasonConcurrency, err)
		}
		if !ok {
			return &tasks.DeferError{After: min(max(wait, time.Second), l.opts.Backstop), Reason: tasks.ReasonConcurrency, Limit: lim.Name}
		}
		held = append(held, s)
	}
	var startAt time.Time
	for _, lim := range matched {
		if lim.Rate.IsZero() {
			continue
		}
		at, w, ok, err := l.take(ctx, rdb, lim, t)
		if err != nil {
			return l.unavailable(ctx, lim, tasks.ReasonRate, err)
		}
		if !ok {
			return &tasks.DeferError{After: w, Reason: tasks.ReasonRate, Limit: lim.Name}
		}
		if at.After(startAt) {
			startAt = at
		}
	}
	if wait := time.Until(startAt); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	return next.ProcessTask(ctx, t)
}

// unavailable is the deferral of a task whose limit could not be checked
// (Redis did not answer): the limit is not ignored, the task comes back
// after the backstop.
func (l *Limiter) unavailable(ctx context.Context, lim Limit, reason string, err error) error {
	l.logger.WarnContext(ctx, "limits: cannot check the limit; the task is deferred", "limit", lim.Name, "error", err)
	return &tasks.DeferError{After: l.opts.Backstop, Reason: reason, Limit: lim.Name}
}

// keyArgs are the keyPick arguments of lim for key value kv.
func (l *Limiter) keyArgs(lim Limit, kv string) []any {
	return []any{kv, lim.maxKeys(), keyIdle.Milliseconds()}
}

// acquire takes a slot of lim for task id, or reports when the first
// lease runs out.
func (l *Limiter) acquire(ctx context.Context, rdb redis.UniversalClient, lim Limit, t *asynq.Task, queue, id string) (slot, time.Duration, bool, error) {
	kv := lim.keyValue(t.Payload(), t.Headers())
	keys := []string{keysKey(lim.Name), slotsKey(lim.Name, kv), waitersKey(lim.Name, kv), slotsKey(lim.Name, OtherKey), waitersKey(lim.Name, OtherKey)}
	args := append(l.keyArgs(lim, kv), id, l.opts.LeaseTTL.Milliseconds(), lim.Concurrency, waiterMember(queue, id))
	res, err := acquireScript.Run(ctx, rdb, keys, args...).Int64Slice()
	if err != nil {
		return slot{}, 0, false, err
	}
	if len(res) != 3 {
		return slot{}, 0, false, fmt.Errorf("limits: acquire answered %v", res)
	}
	s := slot{slots: keys[1], waiters: keys[2]}
	if res[2] == 0 {
		s = slot{slots: keys[3], waiters: keys[4]}
	}
	if res[0] == 0 {
		return slot{}, time.Duration(res[1]) * time.Millisecond, false, nil
	}
	l.mu.Lock()
	ids := l.held[s.slots]
	if ids == nil {
		ids = map[string]struct{}{}
		l.held[s.slots] = ids
	}
	ids[id] = struct{}{}
	l.mu.Unlock()
	return s, 0, true, nil
}

// take takes a rate start of lim: ok with the local time at which the
// task may start, or not ok with when to come back.
func (l *Limiter) take(ctx context.Context, rdb redis.UniversalClient, lim Limit, t *asynq.Task) (time.Time, time.Duration, bool, error) {
	kv := lim.keyValue(t.Payload(), t.Headers())
	keys := []string{keysKey(lim.Name), rateKey(lim.Name, kv), rateKey(lim.Name, OtherKey)}
	interval := float64(lim.Rate.Interval().Nanoseconds()) / 1e6
	args := append(l.keyArgs(lim, kv), strconv.FormatFloat(interval, 'f', -1, 64), lim.burst(), l.opts.MaxWait.Milliseconds())
	sent := time.Now()
	res, err := rateScript.Run(ctx, rdb, keys, args...).Int64Slice()
	if err != nil {
		return time.Time{}, 0, false, err
	}
	got := time.Now()
	if len(res) != 4 {
		return time.Time{}, 0, false, fmt.Errorf("limits: rate answered %v", res)
	}
	w := time.Duration(res[1]) * time.Millisecond
	if res[0] == 0 {
		return time.Time{}, w, false, nil
	}
	return l.observe(lim.Name, sent, got, res[3], w), 0, true, nil
}

// release gives back the slots of task id and promotes, for each, the
// oldest task waiting for one.
func (l *Limiter) release(ctx context.Context, rdb redis.UniversalClient, id string, held []slot) {
	for _, s := range held {
		l.mu.Lock()
		if ids := l.held[s.slots]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(l.held, s.slots)
			}
		}
		l.mu.Unlock()
		// Pop a few: a popped waiter may have been deleted, or may not be
		// in the scheduled set yet (its worker is deferring it now).
		waiters, err := releaseScript.Run(ctx, rdb, []string{s.slots, s.waiters}, id, 3).StringSlice()
		if err != nil {
			l.logger.WarnContext(ctx, "limits: releasing a concurrency slot failed; it frees itself when its lease expires",
				"lease_ttl", l.opts.LeaseTTL, "error", err)
			continue
		}
		for _, w := range waiters {
			queue, wid, ok := strings.Cut(w, "\n")
			if !ok {
				continue
			}
			if promoted, err := asynqrdb.PromoteScheduled(ctx, rdb, queue, wid); promoted || err != nil {
				break
			}
		}
	}
}
