package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/tasks"
)

// Errors of a run.
var (
	// ErrTimeout is wrapped by the error of a wait that ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrRedisNotEmpty is returned when the given Redis database holds keys:
	// the benchmark flushes it between runs.
	ErrRedisNotEmpty = errors.New("redis database is not empty")
	// ErrBadOptions is wrapped by the error of Options.Validate.
	ErrBadOptions = errors.New("bad benchmark options")
)

// Phase names, accepted in Options.Phases.
const (
	PhaseThroughput = "throughput"
	PhaseLatency    = "latency"
	PhaseEnqueue    = "enqueue"
	PhaseSweep      = "sweep"
	PhaseFleet      = "fleet"
	PhaseBurst      = "burst"
	PhaseBullMQ     = "bullmq"
	PhaseSoak       = "soak"
)

// Phases lists every phase in the order a run performs them.
var Phases = []string{PhaseThroughput, PhaseLatency, PhaseEnqueue, PhaseSweep, PhaseFleet, PhaseBurst, PhaseBullMQ, PhaseSoak}

// Options configures a run. DefaultOptions gives the figures of issue 2.
type Options struct {
	// RedisAddr is the Redis every phase uses. Its database 0 must be
	// empty: it is flushed before each measurement.
	RedisAddr string
	// Tasks is the number of tasks of the throughput and enqueue phases.
	Tasks int
	// Concurrency of the servers in the throughput phase.
	Concurrency int
	// Rounds is how many times each measurement is repeated; targets are
	// interleaved within a round.
	Rounds int
	// LatencyTasks is the number of tasks enqueued one at a time in the
	// latency phase, GapMin to GapMax apart (uniformly random).
	LatencyTasks   int
	GapMin, GapMax time.Duration
	// IdleSettle is how long a latency target runs idle before its Redis
	// commands are counted for IdleWindow.
	IdleSettle, IdleWindow time.Duration
	// SweepIntervals are the idle poll intervals of the sweep phase, and
	// SweepTasks its number of tasks per measurement.
	SweepIntervals []time.Duration
	SweepTasks     int
	// FleetSizes are the numbers of idle workers of the fleet phase.
	FleetSizes []int
	// BurstWorkers idle workers receive a burst of BurstTasks tasks in the
	// burst phase.
	BurstWorkers, BurstTasks int
	// SoakTasks is the number of tasks of the soak phase, fed in SoakWaves
	// equal waves (at least 3: memory is compared from the second to the
	// last) to SoakWorkers worker processes.
	SoakTasks, SoakWaves int
	// WorkerBin is the cmd/worker binary the soak runs; empty builds one
	// with "go build" into a temporary directory.
	WorkerBin string
	// Seed makes the random gaps reproducible.
	Seed uint64
	// WaitTimeout bounds every wait for tasks to be processed.
	WaitTimeout time.Duration
	// Phases to run, a subset of Phases; empty runs all.
	Phases []string
	// CPUProfileDir, when set, receives one CPU profile per throughput
	// measurement: throughput-<target key>-round<N>.pprof.
	CPUProfileDir string
	// Progress receives one line per measurement; nil discards them.
	Progress io.Writer
	// Command is the command line, shown in the report.
	Command string
	// SoakReportOnly keeps the soak's memory verdict in the report without
	// failing the phase when memory grows. The tests set it: they check
	// that every task is processed once, and the memory figures and their
	// verdict belong to make bench (cmd/bench), not to the test suite.
	SoakReportOnly bool

	// ThroughputTargets, LatencyTargets and Enqueuers replace the default
	// ones when not nil.
	ThroughputTargets []Target
	LatencyTargets    []Target
	Enqueuers         []Enqueuer
}

// DefaultOptions returns the settings of issue 2's benchmark.
func DefaultOptions() Options {
	return Options{
		Tasks:        20000,
		Concurrency:  50,
		Rounds:       3,
		LatencyTasks: 200,
		GapMin:       5 * time.Millisecond,
		GapMax:       50 * time.Millisecond,
		IdleSettle:   time.Second,
		IdleWindow:   10 * time.Second,
		BurstWorkers: 500,
		BurstTasks:   10000,
		SweepTasks:   100,
		SoakTasks:    200000,
		SoakWaves:    4,
		Seed:         1,
		WaitTimeout:  2 * time.Minute,
	}
}

// Validate reports every unusable option at once, each naming the flag of
// cmd/bench that sets it.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Tasks < 2 {
		bad("--tasks: must be at least 2, got %d", o.Tasks)
	}
	if o.Concurrency < 1 {
		bad("--concurrency: must be at least 1, got %d", o.Concurrency)
	}
	if o.Rounds < 1 {
		bad("--rounds: must be at least 1, got %d", o.Rounds)
	}
	if o.LatencyTasks < 1 {
		bad("--latency-tasks: must be at least 1, got %d", o.LatencyTasks)
	}
	if o.SweepTasks < 1 {
		bad("--sweep-tasks: must be at least 1, got %d", o.SweepTasks)
	}
	for _, d := range o.SweepIntervals {
		if d <= 0 {
			bad("--sweep-intervals: each interval must be positive, got %s", d)
		}
	}
	if o.runs(PhaseBurst) && (o.BurstWorkers < 1 || o.BurstTasks < 1) {
		bad("--burst-workers, --burst-tasks: need at least 1 each, got %d and %d", o.BurstWorkers, o.BurstTasks)
	}
	for i, n := range o.FleetSizes {
		if n < 1 || (i > 0 && n <= o.FleetSizes[i-1]) {
			bad("--fleet-sizes: need increasing sizes of at least 1, got %v", o.FleetSizes)
			break
		}
	}
	if o.SoakWaves < 3 {
		bad("--soak-waves: must be at least 3, got %d", o.SoakWaves)
	} else if o.SoakTasks < o.SoakWaves {
		bad("--soak-tasks: must be at least --soak-waves (%d), got %d", o.SoakWaves, o.SoakTasks)
	}
	if o.GapMin < 0 || o.GapMax < o.GapMin {
		bad("--gap-min/--gap-max: need 0 <= gap-min <= gap-max, got %s and %s", o.GapMin, o.GapMax)
	}
	if o.IdleSettle < 0 {
		bad("--idle-settle: must not be negative, got %s", o.IdleSettle)
	}
	if o.IdleWindow <= 0 {
		bad("--idle-window: must be positive, got %s", o.IdleWindow)
	}
	if o.WaitTimeout <= 0 {
		bad("--wait-timeout: must be positive, got %s", o.WaitTimeout)
	}
	for _, p := range o.Phases {
		if !slices.Contains(Phases, p) {
			bad("--only: unknown phase %q; expected a comma-separated subset of %s", p, strings.Join(Phases, ","))
		}
	}
	for _, ts := range [][]Target{o.ThroughputTargets, o.LatencyTargets} {
		for _, t := range ts {
			if err := t.check(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, e := range o.Enqueuers {
		if !keyRE.MatchString(e.Key) || e.Enqueue == nil {
			bad("enqueuer %q: needs a key of lower-case letters, digits and dashes and an Enqueue function", e.Name)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %w", ErrBadOptions, joinIndented(errs))
}

// joinIndented joins errors one per line, indented.
func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

func (o Options) runs(phase string) bool {
	return len(o.Phases) == 0 || slices.Contains(o.Phases, phase)
}

// Env is what the phases share: the Redis and the producers.
type Env struct {
	// Addr is host:port of the Redis.
	Addr string
	// RDB is the driver's own connection, for INFO, FLUSHDB and counts.
	RDB *redis.Client
	// Client is the tuskq producer.
	Client *tasks.Client
	// Asynq is a bare asynq producer.
	Asynq *asynq.Client
}

// Run performs the phases of opts against the Redis at opts.RedisAddr and
// returns the report. It stops everything it started before it returns,
// also when ctx is cancelled.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.ThroughputTargets == nil {
		opts.ThroughputTargets = DefaultThroughputTargets(opts.Concurrency)
	}
	if opts.LatencyTargets == nil {
		opts.LatencyTargets = DefaultLatencyTargets()
	}
	if opts.Enqueuers == nil {
		opts.Enqueuers = DefaultEnqueuers()
	}
	if opts.SweepIntervals == nil {
		opts.SweepIntervals = DefaultSweepIntervals
	}
	if opts.FleetSizes == nil {
		opts.FleetSizes = DefaultFleetSizes
	}
	env, err := newEnv(ctx, opts.RedisAddr)
	if err != nil {
		return nil, err
	}
	defer env.close()

	start := time.Now()
	rep := &Report{Environment: environment(opts)}
	if rep.Environment.RedisVersion, err = env.infoField(ctx, "server", "redis_version"); err != nil {
		return nil, err
	}
	type phase struct {
		name string
		run  func(context.Context, *Env, Options) (Section, error)
	}
	for _, p := range []phase{
		{PhaseThroughput, runThroughput},
		{PhaseLatency, runLatency},
		{PhaseEnqueue, runEnqueue},
		{PhaseSweep, runSweep},
		{PhaseFleet, runFleet},
		{PhaseBurst, runBurst},
		{PhaseBullMQ, runBullMQ},
		{PhaseSoak, runSoak},
	} {
		if !opts.runs(p.name) {
			continue
		}
		s, err := p.run(ctx, env, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		rep.Sections = append(rep.Sections, s)
	}
	if err := env.reset(ctx); err != nil {
		return nil, err
	}
	rep.Environment.DurationSec = time.Since(start).Seconds()
	return rep, nil
}

func environment(o Options) Environment {
	e := Environment{
		Started:      time.Now(),
		Command:      o.Command,
		GoVersion:    runtime.Version(),
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		NumCPU:       runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		RedisAddr:    o.RedisAddr,
		AsynqVersion: "unknown",
		Tasks:        o.Tasks,
		Concurrency:  o.Concurrency,
		Rounds:       o.Rounds,
		LatencyTasks: o.LatencyTasks,
		Seed:         o.Seed,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/hibiken/asynq" {
				e.AsynqVersion = d.Version
			}
		}
	}
	return e
}

// newEnv connects to the Redis and checks that its database is empty.
func newEnv(ctx context.Context, addr string) (*Env, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := rdb.DBSize(pctx).Result()
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	if n > 0 {
		rdb.Close()
		return nil, fmt.Errorf("%w: %s holds %d keys in database 0, and the benchmark flushes it; "+
			"point --redis-addr at a throwaway Redis, or leave it empty to start one", ErrRedisNotEmpty, addr, n)
	}
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: addr}, tasks.ClientOptions{})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &Env{Addr: addr, RDB: rdb, Client: client, Asynq: asynq.NewClient(asynq.RedisClientOpt{Addr: addr})}, nil
}

func (e *Env) close() {
	e.Asynq.Close()
	e.Client.Close()
	e.RDB.Close()
}

// reset empties the database between measurements.
func (e *Env) reset(ctx context.Context) error {
	if err := e.RDB.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	return nil
}

// queueCounts are the task counts of the queue "default".
type queueCounts struct {
	Pending, Active, Scheduled, Retry, Archived int64
}

// left is the number of tasks not yet done.
func (q queueCounts) left() int64 {
	return q.Pending + q.Active + q.Scheduled + q.Retry + q.Archived
}

// queueInfo counts the tasks of the queue "default" from asynq's keys
// (asynq v0.26 layout). It reads the keys rather than asking the
// Inspector because asynq's clients register a queue name only once per
// client, so after FLUSHDB the Inspector reports the queue as missing.
func (e *Env) queueInfo(ctx context.Context) (queueCounts, error) {
	const q = "default"
	pipe := e.RDB.Pipeline()
	pending := pipe.LLen(ctx, asynqrdb.PendingKey(q))
	active := pipe.LLen(ctx, asynqrdb.ActiveKey(q))
	scheduled := pipe.ZCard(ctx, asynqrdb.ScheduledKey(q))
	retry := pipe.ZCard(ctx, asynqrdb.RetryKey(q))
	archived := pipe.ZCard(ctx, asynqrdb.ArchivedKey(q))
	if _, err := pipe.Exec(ctx); err != nil {
		return queueCounts{}, fmt.Errorf("count tasks of queue default: %w", err)
	}
	return queueCounts{
		Pending: pending.Val(), Active: active.Val(), Scheduled: scheduled.Val(),
		Retry: retry.Val(), Archived: archived.Val(),
	}, nil
}

// fill enqueues n tasks of TaskType with the tuskq client and checks they
// are all pending.
func (e *Env) fill(ctx context.Context, n int) error {
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: TaskType, Payload: []byte("{}")}
	}
	for i, r := range e.Client.EnqueueMany(ctx, reqs, 0) {
		if r.Err != nil {
			return fmt.Errorf("enqueue task %d of %d: %w", i+1, n, r.Err)
		}
	}
	qi, err := e.queueInfo(ctx)
	if err != nil {
		return err
	}
	if qi.Pending != int64(n) {
		return fmt.Errorf("after enqueueing %d tasks the default queue holds %d pending", n, qi.Pending)
	}
	return nil
}

// await waits until done is closed, ctx is cancelled or timeout passes;
// what describes the progress for the error.
func await(ctx context.Context, done <-chan struct{}, timeout time.Duration, what func() string) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("interrupted (%s): %w", what(), context.Cause(ctx))
	case <-t.C:
		return fmt.Errorf("%w after %s: %s", ErrTimeout, timeout, what())
	}
}

// sleep waits for d or until ctx is cancelled.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
}

// progress prints one line to opts.Progress.
func progress(o Options, format string, args ...any) {
	fmt.Fprintf(o.Progress, format+"\n", args...)
}
