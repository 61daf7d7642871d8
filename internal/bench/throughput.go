package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// Metric names of the throughput phase.
const (
	MetricThroughput = "throughput"
	MetricWorkerCPU  = "worker CPU per task"
	MetricRedisCPU   = "Redis CPU per task"
	MetricRedisCmds  = "Redis commands per task"
)

// throughputResult is one drain of the queue by one target.
type throughputResult struct {
	rate      float64 // tasks/s from the first to the last task
	workerCPU float64 // µs per task
	redisCPU  float64 // µs per task
	redisCmds float64 // commands per task
}

// runThroughput drains opts.Tasks pre-enqueued no-op tasks with each
// target, round by round.
func runThroughput(ctx context.Context, env *Env, opts Options) (Section, error) {
	var s series
	for round := 1; round <= opts.Rounds; round++ {
		for _, t := range rotate(opts.ThroughputTargets, round) {
			r, err := throughputOnce(ctx, env, opts, t, round)
			if err != nil {
				return Section{}, fmt.Errorf("round %d, %s: %w", round, t.Name, err)
			}
			progress(opts, "throughput round %d/%d  %-40s %8s tasks/s  worker %6s µs/task  redis %6s µs/task",
				round, opts.Rounds, t.Name, Format(r.rate, 0), Format(r.workerCPU, 1), Format(r.redisCPU, 1))
			s.add(t, MetricThroughput, "tasks/s", 0, r.rate)
			s.add(t, MetricWorkerCPU, "µs", 1, r.workerCPU)
			s.add(t, MetricRedisCPU, "µs", 1, r.redisCPU)
			s.add(t, MetricRedisCmds, "", 1, r.redisCmds)
		}
	}
	sec := Section{
		Key:   PhaseThroughput,
		Title: fmt.Sprintf("Throughput: %s pre-enqueued no-op tasks, concurrency %d", Format(float64(opts.Tasks), 0), opts.Concurrency),
		About: fmt.Sprintf(`Before each measurement the database is flushed and %s tasks of type %s (payload {}, with a traceparent header, enqueued by tasks.Client.EnqueueMany) are put in the queue "default". Then the target starts and its handler counts the tasks; throughput is (tasks − 1) / (time of the last handler call − time of the first). The tuskq worker runs with its full middleware: trace context, a JSON log line per task (written to io.Discard), Prometheus metrics on a fresh registry, panic recovery. Worker CPU is the user+system CPU of the benchmark process (getrusage) from just before the target starts until the last task, divided by the tasks; Redis CPU and commands come from the deltas of INFO used_cpu_user+used_cpu_sys and total_commands_processed over the same span.`,
			Format(float64(opts.Tasks), 0), TaskType),
		Rows: s.done(),
	}
	sec.addRatio("tuskq / bare asynq, both at defaults (issue 6: ≥ 1.15)", MetricThroughput, KeyTuskq, KeyBare, 1.15)
	sec.addRatioAtMost("worker CPU per task, tuskq / bare asynq at defaults (issue 6: ≤ 1.05)", MetricWorkerCPU, KeyTuskq, KeyBare, 1.05)
	sec.addRatio("tuskq with 1 server / bare asynq with tuskq's server settings: middleware cost (issue 2: ≥ 0.95)", MetricThroughput, KeyTuskqOne, KeyBareSettled, 0.95)
	sec.addRatio("worker CPU per task, bare asynq with tuskq's server settings / tuskq with 1 server", MetricWorkerCPU, KeyBareSettled, KeyTuskqOne, 0)
	sec.addRatio("tuskq / tuskq with 1 server: gain of the extra servers", MetricThroughput, KeyTuskq, KeyTuskqOne, 0)
	sec.addRatio("bare asynq with tuskq's server settings / bare asynq at defaults: settings cost", MetricThroughput, KeyBareSettled, KeyBare, 0)
	return sec, nil
}

// throughputOnce fills the queue, lets t drain it and measures.
func throughputOnce(ctx context.Context, env *Env, opts Options, t Target, round int) (throughputResult, error) {
	n := int64(opts.Tasks)
	if err := env.reset(ctx); err != nil {
		return throughputResult{}, err
	}
	if err := env.fill(ctx, opts.Tasks); err != nil {
		return throughputResult{}, err
	}
	runtime.GC() // do not charge the enqueue's garbage to the target

	var (
		count       atomic.Int64
		first, last atomic.Int64 // nanoseconds since base
		done        = make(chan struct{})
		base        = time.Now()
	)
	h := func(context.Context, *asynq.Task) error {
		d := int64(time.Since(base))
		switch count.Add(1) {
		case 1:
			first.Store(d)
		case n:
			last.Store(d)
			close(done)
		}
		return nil
	}

	before, err := env.snapshot(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	stopProfile, err := startProfile(opts.CPUProfileDir, fmt.Sprintf("throughput-%s-round%d.pprof", t.Key, round))
	if err != nil {
		return throughputResult{}, err
	}
	stop, err := t.Start(ctx, env.Addr, h)
	if err != nil {
		return throughputResult{}, errors.Join(err, stopProfile())
	}
	waitErr := await(ctx, done, opts.WaitTimeout, func() string {
		return fmt.Sprintf("%d of %d tasks processed", count.Load(), n)
	})
	var after snapshot
	if waitErr == nil {
		after, waitErr = env.snapshot(ctx)
	}
	profErr := stopProfile()
	if err := errors.Join(waitErr, stop(), profErr); err != nil {
		return throughputResult{}, err
	}
	// Every handler has returned: the target is stopped.
	if got := count.Load(); got != n {
		return throughputResult{}, fmt.Errorf("%d tasks processed, expected exactly %d", got, n)
	}
	qi, err := env.queueInfo(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	if qi.left() != 0 {
		return throughputResult{}, fmt.Errorf("queue not drained after the target stopped: %d pending, %d active, %d retry, %d archived, %d scheduled",
			qi.Pending, qi.Active, qi.Retry, qi.Archived, qi.Scheduled)
	}
	span := time.Duration(last.Load() - first.Load())
	r := throughputResult{
		workerCPU: perTaskMicros(after.selfCPU-before.selfCPU, n),
		redisCPU:  perTaskMicros(after.redisCPU-before.redisCPU, n),
		// The second INFO is itself counted.
		redisCmds: float64(after.redisCmds-before.redisCmds-1) / float64(n),
	}
	if span > 0 {
		r.rate = float64(n-1) / span.Seconds()
	}
	return r, nil
}

func perTaskMicros(d time.Duration, n int64) float64 {
	return float64(d.Microseconds()) / float64(n)
}

// startProfile starts a CPU profile into dir/name; with an empty dir it
// does nothing. The returned function stops it and closes the file.
func startProfile(dir, name string) (func() error, error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return nil
	}, nil
}
