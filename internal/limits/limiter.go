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
	set    atomic.Pointer[[]armed]

	batch  *asynqrdb.ScriptBatcher // nil: scripts go alone
	riders *asynqrdb.Riders        // nil: releases go alone

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
	set := make([]armed, len(ls))
	for i, lim := range ls {
		a := &set[i]
		a.Limit = lim
		if lim.Key == "" {
			a.keys = a.admitKeys("")
		}
		// admitScript's constant arguments, boxed once.
		var interval any = "0"
		if !lim.Rate.IsZero() {
			interval = strconv.FormatFloat(float64(lim.Rate.Interval().Nanoseconds())/1e6, 'f', -1, 64)
		}
		a.args = [...]any{
			strconv.Itoa(lim.MaxKeysOrDefault()), strconv.FormatInt(keyIdle.Milliseconds(), 10),
			strconv.FormatInt(l.opts.LeaseTTL.Milliseconds(), 10), strconv.Itoa(lim.Concurrency),
			interval, strconv.Itoa(lim.BurstOrDefault()), strconv.FormatInt(l.opts.MaxWait.Milliseconds(), 10),
		}
	}
	l.set.Store(&set)
}

// armed is a limit as the limiter holds it, with what its admissions
// send built once.
type armed struct {
	Limit
	// keys are the Redis keys of an unkeyed limit's admission.
	keys []string
	// args are admitScript's constant arguments: max keys, key idle ms,
	// lease ms, capacity, rate interval ms, burst, longest wait ms.
	args [7]any
}

// Limits returns the limits enforced now.
func (l *Limiter) Limits() []Limit {
	set := *l.set.Load()
	out := make([]Limit, len(set))
	for i, a := range set {
		out[i] = a.Limit
	}
	return out
}

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

// admitKeys are the KEYS of admitScript for key value kv.
func (l *armed) admitKeys(kv string) []string {
	if kv == "" && l.keys != nil {
		return l.keys // unkeyed: built once (SetLimits)
	}
	return []string{keysKey(l.Name), slotsKey(l.Name, kv), waitersKey(l.Name, kv), slotsKey(l.Name, OtherKey),
		waitersKey(l.Name, OtherKey), rateKey(l.Name, kv), rateKey(l.Name, OtherKey)}
}

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
//
// Each limit matching a task costs one round trip before it runs (the
// slot and the rate start of a limit are taken by one script), shared
// for a concurrency-only limit with the other tasks admitted at the same
// moment when the limiter has the worker's batcher (Share); the release rides on the task's outcome
// script when it has the worker's riders.
func (l *Limiter) Middleware() tasks.Middleware {
	return func(next tasks.Processor) tasks.Processor {
		return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			return l.process(ctx, t, next)
		})
	}
}

// Share makes the limiter send its scripts through the worker's batcher
// (sharing round trips with the tasks' other scripts) and ride its
// releases on the tasks' outcome scripts (riders). Either may be nil. Call
// it before Start; b and r must send through the client given to Start.
func (l *Limiter) Share(b *asynqrdb.ScriptBatcher, r *asynqrdb.Riders) {
	l.batch, l.riders = b, r
}

// maxMatched is how many limits a task is checked against without an
// allocation.
const maxMatched = 4

// process runs one task under the limits that match it.
func (l *Limiter) process(ctx context.Context, t *asynq.Task, next tasks.Processor) error {
	ls := *l.set.Load()
	if len(ls) == 0 {
		return next.ProcessTask(ctx, t)
	}
	queue, _ := asynq.GetQueueName(ctx)
	var buf [maxMatched]*armed
	matched := buf[:0]
	for i := range ls {
		if ls[i].Matches(t.Type(), queue) {
			matched = append(matched, &ls[i])
		}
	}
	rdb := l.client()
	if len(matched) == 0 || rdb == nil {
		return next.ProcessTask(ctx, t)
	}
	id, _ := asynq.GetTaskID(ctx)
	var heldBuf [maxMatched]slot
	held := heldBuf[:0]
	defer func() {
		if len(held) > 0 {
			l.release(context.WithoutCancel(ctx), rdb, queue, id, held)
		}
	}()
	// Limits with a capacity first: a rate start of another limit is not
	// spent on a task that would find no slot.
	var startAt time.Time
	for pass := range 2 {
		for _, lim := range matched {
			if (lim.Concurrency > 0) != (pass == 0) {
				continue
			}
			s, at, de, err := l.admit(ctx, rdb, lim, t, queue, id)
			if err != nil {
				reason := tasks.ReasonRate
				if lim.Concurrency > 0 {
					reason = tasks.ReasonConcurrency
				}
				return l.unavailable(ctx, lim.Limit, reason, err)
			}
			if de != nil {
				return de
			}
			if s.slots != "" {
				held = append(held, s)
			}
			if at.After(startAt) {
				startAt = at
			}
		}
	}
	if !startAt.IsZero() {
		if wait := time.Until(startAt); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
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

// eval runs script s through the batcher when the limiter has one.
func (l *Limiter) eval(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	if l.batch == nil {
		return s.Run(ctx, rdb, keys, args...)
	}
	cmd := l.batch.EvalSha(ctx, s.Hash(), keys, args...)
	if asynqrdb.IsNoScript(cmd.Err()) {
		return s.Eval(ctx, rdb, keys, args...)
	}
	return cmd
}

// admit takes what task id needs of lim in one script: a slot (s, when
// lim has a capacity) and a rate start (at: the local time at which the
// task may start, when lim has a rate). de is the deferral when lim
// refuses the task.
func (l *Limiter) admit(ctx context.Context, rdb redis.UniversalClient, lim *armed, t *asynq.Task, queue, id string) (s slot, at time.Time, de *tasks.DeferError, err error) {
	kv := lim.KeyValue(t.Payload(), t.Headers())
	keys := lim.admitKeys(kv)
	a := &lim.args
	sent := time.Now()
	// A rate's start times are mapped from Redis's clock by the round
	// trip's window: a call queued behind another pipeline would widen
	// it and start late, bunching starts. Rates go alone.
	eval := l.eval
	if !lim.Rate.IsZero() {
		eval = func(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys []string, args ...any) *redis.Cmd {
			return s.Run(ctx, rdb, keys, args...)
		}
	}
	res, err := eval(ctx, rdb, admitScript, keys,
		kv, a[0], a[1], id, a[2], a[3], waiterMember(queue, id), a[4], a[5], a[6]).Int64Slice()
	if err != nil {
		return slot{}, time.Time{}, nil, err
	}
	if len(res) != 4 {
		return slot{}, time.Time{}, nil, fmt.Errorf("limits: admit answered %v", res)
	}
	ms := time.Duration(res[1]) * time.Millisecond
	switch res[0] {
	case 0:
		return slot{}, time.Time{}, &tasks.DeferError{After: min(max(ms, time.Second), l.opts.Backstop), Reason: tasks.ReasonConcurrency, Limit: lim.Name}, nil
	case 2:
		return slot{}, time.Time{}, &tasks.DeferError{After: ms, Reason: tasks.ReasonRate, Limit: lim.Name}, nil
	}
	if lim.Concurrency > 0 {
		s = slot{slots: keys[1], waiters: keys[2]}
		if res[2] == 0 {
			s = slot{slots: keys[3], waiters: keys[4]}
		}
		l.mu.Lock()
		ids := l.held[s.slots]
		if ids == nil {
			ids = map[string]struct{}{}
			l.held[s.slots] = ids
		}
		ids[id] = struct{}{}
		l.mu.Unlock()
	}
	if !lim.Rate.IsZero() {
		at = l.observe(lim.Name, sent, time.Now(), res[3], ms)
	}
	return s, at, nil, nil
}

// releaseWaiters is how many waiters a release pops: a popped waiter may
// have been deleted, or may not be in the scheduled set yet (its worker
// is deferring it now).
const releaseWaiters = 3

// release gives back the slots of task id of queue and promotes, for each,
// the oldest task waiting for one. With riders (Share), the releases ride
// on the task's outcome script and release returns at once.
func (l *Limiter) release(ctx context.Context, rdb redis.UniversalClient, queue, id string, held []slot) {
	l.mu.Lock()
	for _, s := range held {
		if ids := l.held[s.slots]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(l.held, s.slots)
			}
		}
	}
	l.mu.Unlock()
	if l.riders != nil {
		calls := make([]asynqrdb.Rider, len(held))
		for i, s := range held {
			calls[i] = asynqrdb.Rider{Script: releaseScript, Keys: []string{s.slots, s.waiters}, Args: []any{id, releaseWaiters},
				Done: func(cmd *redis.Cmd) { l.released(ctx, rdb, cmd, true) }}
		}
		l.riders.Add(queue, id, calls...)
		return
	}
	for _, s := range held {
		l.released(ctx, rdb, l.eval(ctx, rdb, releaseScript, []string{s.slots, s.waiters}, id, releaseWaiters), false)
	}
}

// released promotes the waiters a release popped (in a goroutine when
// async: the reply comes on a goroutine that must not block).
func (l *Limiter) released(ctx context.Context, rdb redis.UniversalClient, cmd *redis.Cmd, async bool) {
	waiters, err := cmd.StringSlice()
	if err != nil {
		l.logger.WarnContext(ctx, "limits: releasing a concurrency slot failed; it frees itself when its lease expires",
			"lease_ttl", l.opts.LeaseTTL, "error", err)
		return
	}
	if len(waiters) == 0 {
		return
	}
	promote := func() {
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
	if async {
		go promote()
		return
	}
	promote()
}
