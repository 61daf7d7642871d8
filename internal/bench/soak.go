package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// ErrMemoryGrowing is wrapped by the error of a soak run whose Redis memory
// or worker RSS kept growing from the second wave to the last beyond the
// tolerances.
var ErrMemoryGrowing = errors.New("memory keeps growing")

// Soak settings.
const (
	// SoakWorkers is the number of worker processes of the soak phase.
	SoakWorkers = 3
	// SoakTaskType is the type the soak enqueues: a processor of the stock
	// worker binary (processors.TypeSleep), run with a payload of 0 ms.
	SoakTaskType = "demo:sleep"
	// workerPackage is built when Options.WorkerBin is empty.
	workerPackage = "github.com/tuskq/tuskq/cmd/worker"
	// soakQueue is where SoakTaskType is routed by a client without routes.
	soakQueue = "default"
	// soakSampleEvery is the period of the memory samples.
	soakSampleEvery = time.Second
	// soakPoll is how often the drain of a wave is checked.
	soakPoll = 20 * time.Millisecond
)

// Tolerances of the memory verdict: from the second wave to the last, the
// growth must stay below the percentage or the number of bytes.
const (
	soakRedisTolPct   = 10.0
	soakRedisTolBytes = 2 << 20
	soakRSSTolPct     = 15.0
	soakRSSTolBytes   = 8 << 20
)

// soakPayload makes demo:sleep return at once.
var soakPayload = []byte(`{"ms":0}`)

// SoakResult is what the soak phase measured, in Section.Soak.
type SoakResult struct {
	// Tasks is the number of tasks enqueued, TaskType their type.
	Tasks    int    `json:"tasks"`
	TaskType string `json:"task_type"`
	// Workers are the worker processes.
	Workers []SoakWorker `json:"workers"`
	// DurationSec is the sum of the waves' durations (first enqueue to
	// drained); Throughput is Tasks / DurationSec.
	DurationSec float64 `json:"duration_s"`
	Throughput  float64 `json:"throughput_tasks_per_s"`
	// Processed and Failed are asynq's total counters of the queue
	// (asynq:{default}:processed and :failed) after the last wave.
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
	// Pending … Archived are the tasks left in the queue after the last
	// wave.
	Pending   int64 `json:"pending"`
	Active    int64 `json:"active"`
	Scheduled int64 `json:"scheduled"`
	Retry     int64 `json:"retry"`
	Archived  int64 `json:"archived"`
	// Baseline is the memory with the workers started and nothing
	// enqueued; Waves the figures of each wave once it drained.
	Baseline SoakWave   `json:"baseline"`
	Waves    []SoakWave `json:"waves"`
	// RedisPeakUsedMemory is the highest Redis used_memory seen (samples
	// and the readings after each wave).
	RedisPeakUsedMemory int64 `json:"redis_peak_used_memory_bytes"`
	// Samples are taken every second while the workers run.
	Samples []SoakSample `json:"samples"`
	// Growth compares the second wave to the last, Redis first, then each
	// worker; MemoryStable is true when every one is within tolerance.
	Growth       []SoakGrowth `json:"growth"`
	MemoryStable bool         `json:"memory_stable"`
	// Verdict says in one sentence whether memory keeps growing.
	Verdict string `json:"verdict"`
}

// SoakWorker is one worker process of the soak.
type SoakWorker struct {
	// Name is "worker 1" … and PID its process ID.
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// PeakRSS is VmHWM of /proc/<pid>/status read after the last wave,
	// before the worker was stopped.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// MaxSampledRSS is the highest VmRSS of the one-second samples.
	MaxSampledRSS int64 `json:"max_sampled_rss_bytes"`
}

// SoakWave is the memory once a wave has drained.
type SoakWave struct {
	// Wave counts from 1 (0 for the baseline); Tasks is its size.
	Wave  int `json:"wave"`
	Tasks int `json:"tasks"`
	// EnqueueSec is the time EnqueueMany took; DurationSec the time from
	// the start of the enqueue until the queue was drained.
	EnqueueSec  float64 `json:"enqueue_s"`
	DurationSec float64 `json:"duration_s"`
	// RedisUsedMemory is INFO memory used_memory after the drain.
	RedisUsedMemory int64 `json:"redis_used_memory_bytes"`
	// WorkerRSS is each worker's VmRSS after the drain.
	WorkerRSS []int64 `json:"worker_rss_bytes"`
}

// SoakSample is one reading of the one-second sampler.
type SoakSample struct {
	// ElapsedSec counts from the start of the first wave (negative
	// before it).
	ElapsedSec      float64 `json:"elapsed_s"`
	RedisUsedMemory int64   `json:"redis_used_memory_bytes"`
	WorkerRSS       []int64 `json:"worker_rss_bytes"`
}

// SoakGrowth is the growth of one memory figure from the second wave to
// the last, and whether it is within tolerance.
type SoakGrowth struct {
	// What names the figure: "Redis used_memory" or "worker N RSS".
	What string `json:"what"`
	// From and To are the figure after the second and after the last wave.
	From int64 `json:"from_bytes"`
	To   int64 `json:"to_bytes"`
	// Percent is (To − From) / From in percent.
	Percent float64 `json:"percent"`
	// TolPercent and TolBytes are the tolerances: the growth is OK when
	// below either.
	TolPercent float64 `json:"tolerance_percent"`
	TolBytes   int64   `json:"tolerance_bytes"`
	OK         bool    `json:"ok"`
}

// Bytes is the growth in bytes (negative when the figure shrank).
func (g SoakGrowth) Bytes() int64 { return g.To - g.From }

// runSoak feeds opts.SoakTasks tasks in opts.SoakWaves waves to SoakWorkers
// worker processes of the stock worker binary and checks that every task
// ran once and that memory does not keep growing.
func runSoak(ctx context.Context, env *Env, opts Options) (Section, error) {
	sec := Section{
		Key:   PhaseSoak,
		Title: fmt.Sprintf("Soak: %s tasks across %d worker processes", Format(float64(opts.SoakTasks), 0), SoakWorkers),
	}
	if runtime.GOOS != "linux" {
		sec.Notes = []string{"skipped: the soak reads worker memory from /proc, which only Linux has"}
		return sec, nil
	}
	if err := env.reset(ctx); err != nil {
		return Section{}, err
	}
	dir, err := os.MkdirTemp("", "tuskq-soak-")
	if err != nil {
		return Section{}, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := opts.WorkerBin
	if bin == "" {
		bin = filepath.Join(dir, "worker")
		progress(opts, "soak       building %s", workerPackage)
		if err := buildWorker(ctx, bin); err != nil {
			return Section{}, err
		}
	}
	res, err := soak(ctx, env, opts, bin, dir)
	if err != nil {
		return Section{}, err
	}
	res.judge()
	sec.About = soakAbout(opts)
	sec.Rows = res.rows()
	sec.Summary = res.summary()
	sec.Notes = []string{
		fmt.Sprintf("Tasks: %s enqueued; asynq counted %s processed and %s failed in queue %q, and %d pending, %d active, %d scheduled, %d retry, %d archived are left: each task completed once.",
			Format(float64(res.Tasks), 0), Format(float64(res.Processed), 0), Format(float64(res.Failed), 0), soakQueue,
			res.Pending, res.Active, res.Scheduled, res.Retry, res.Archived),
		"Verdict: " + res.Verdict + ".",
	}
	sec.Soak = res
	if !res.MemoryStable && !opts.SoakReportOnly {
		return Section{}, res.growthError()
	}
	return sec, nil
}

func soakAbout(opts Options) string {
	return fmt.Sprintf(`The database is flushed and %d processes of the stock worker binary (cmd/worker, built with go build unless --worker-bin names one) start at their defaults (%d asynq servers each, log lines to a file) against the benchmark's Redis. %s tasks of type %s (payload {"ms":0}: returns at once) are fed in %d equal waves: a wave is enqueued with tasks.Client.EnqueueMany into the queue %q while the workers run, then the driver waits until the queue is empty and asynq's processed counter has caught up. After each drained wave it reads Redis INFO memory used_memory and each worker's VmRSS (/proc/<pid>/status); a sampler reads both every %s as well. Throughput is the tasks divided by the sum of the wave durations (start of the enqueue to drained). Peak RSS is each worker's VmHWM, read after the last wave, before the workers are stopped with SIGTERM. Memory is judged from the second wave to the last (the first one grows pools and caches): Redis must grow by less than %.0f %% or %s MiB, each worker's RSS by less than %.0f %% or %s MiB, else the phase fails. One run, not rounds.`,
		SoakWorkers, worker.DefaultServers, Format(float64(opts.SoakTasks), 0), SoakTaskType, opts.SoakWaves, soakQueue, soakSampleEvery,
		soakRedisTolPct, mib(soakRedisTolBytes, 0), soakRSSTolPct, mib(soakRSSTolBytes, 0))
}

// buildWorker compiles cmd/worker into bin.
func buildWorker(ctx context.Context, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, workerPackage)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build -o %s %s (run the benchmark inside the tuskq module, or pass --worker-bin): %w\n%s",
			bin, workerPackage, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// soak starts the workers, runs the waves and stops the workers.
func soak(ctx context.Context, env *Env, opts Options, bin, dir string) (_ *SoakResult, err error) {
	res := &SoakResult{Tasks: opts.SoakTasks, TaskType: SoakTaskType}
	procs := make([]*soakProc, 0, SoakWorkers)
	defer func() {
		errs := make([]error, 0, len(procs))
		for _, p := range procs {
			p.terminate()
		}
		for _, p := range procs {
			errs = append(errs, p.wait())
		}
		err = errors.Join(err, errors.Join(errs...))
	}()
	for i := range SoakWorkers {
		p, err := startSoakProc(bin, env.Addr, dir, i+1)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.waitStarted(ctx); err != nil {
			return nil, err
		}
		res.Workers = append(res.Workers, SoakWorker{Name: p.Name(), PID: p.Pid()})
	}
	progress(opts, "soak       %d worker processes started (pids %s)", SoakWorkers, pidList(res.Workers))

	start := time.Now()
	smp := startSampler(env, procs, start)
	defer func() {
		res.Samples, err = smp.stop(err)
		res.applySamples()
	}()
	if res.Baseline, err = measureWave(ctx, env, procs); err != nil {
		return nil, err
	}
	res.RedisPeakUsedMemory = res.Baseline.RedisUsedMemory
	var done int64
	for w := range opts.SoakWaves {
		n := opts.SoakTasks / opts.SoakWaves
		if w < opts.SoakTasks%opts.SoakWaves {
			n++
		}
		wave, err := runWave(ctx, env, opts, procs, n, done)
		if err != nil {
			return nil, fmt.Errorf("wave %d of %d: %w", w+1, opts.SoakWaves, err)
		}
		done += int64(n)
		wave.Wave = w + 1
		res.Waves = append(res.Waves, wave)
		res.DurationSec += wave.DurationSec
		res.RedisPeakUsedMemory = max(res.RedisPeakUsedMemory, wave.RedisUsedMemory)
		progress(opts, "soak       wave %d/%d  %8s tasks  enqueue %5.1f s  drained after %5.1f s  %8s tasks/s  redis %s MiB  rss %s MiB",
			w+1, opts.SoakWaves, Format(float64(n), 0), wave.EnqueueSec, wave.DurationSec, Format(float64(n)/wave.DurationSec, 0),
			mib(wave.RedisUsedMemory, 1), rssList(wave.WorkerRSS))
	}
	res.Throughput = float64(res.Tasks) / res.DurationSec
	for i, p := range procs {
		st, err := procStatus(p.Pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
		res.Workers[i].PeakRSS = st.hwm
	}
	if err := res.count(ctx, env); err != nil {
		return nil, err
	}
	return res, nil
}

// runWave enqueues n tasks and waits until the queue is drained and the
// processed counter reaches before+n; it then reads the memory figures.
func runWave(ctx context.Context, env *Env, opts Options, procs []*soakProc, n int, before int64) (SoakWave, error) {
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: SoakTaskType, Payload: soakPayload}
	}
	start := time.Now()
	for i, r := range env.Client.EnqueueMany(ctx, reqs, 0) {
		if r.Err != nil {
			return SoakWave{}, fmt.Errorf("enqueue task %d of %d: %w", i+1, n, r.Err)
		}
	}
	enqueued := time.Since(start)
	want := before + int64(n)
	deadline := time.Now().Add(opts.WaitTimeout)
	for {
		c, err := soakCounts(ctx, env)
		if err != nil {
			return SoakWave{}, err
		}
		if c.failed > 0 || c.Archived > 0 || c.Retry > 0 {
			return SoakWave{}, fmt.Errorf("tasks failed: asynq counts %d failed attempts, %d tasks in retry, %d archived%s",
				c.failed, c.Retry, c.Archived, logTails(procs))
		}
		if c.left() == 0 && c.processed >= want {
			break
		}
		for _, p := range procs {
			if p.Exited() {
				return SoakWave{}, p.diedError()
			}
		}
		if time.Now().After(deadline) {
			return SoakWave{}, fmt.Errorf("%w after %s: %d of %d tasks processed, %d pending, %d active",
				ErrTimeout, opts.WaitTimeout, c.processed, want, c.Pending, c.Active)
		}
		if err := sleep(ctx, soakPoll); err != nil {
			return SoakWave{}, err
		}
	}
	wave, err := measureWave(ctx, env, procs)
	if err != nil {
		return SoakWave{}, err
	}
	wave.Tasks, wave.EnqueueSec, wave.DurationSec = n, enqueued.Seconds(), time.Since(start).Seconds()
	return wave, nil
}

// soakCount is the queue's task counts and asynq's total counters.
type soakCount struct {
	queueCounts
	processed, failed int64
}

// soakCounts reads the counts of the soak's queue.
func soakCounts(ctx context.Context, env *Env) (soakCount, error) {
	qc, err := env.queueInfo(ctx)
	if err != nil {
		return soakCount{}, err
	}
	vals, err := env.RDB.MGet(ctx, asynqrdb.ProcessedTotalKey(soakQueue), asynqrdb.FailedTotalKey(soakQueue)).Result()
	if err != nil {
		return soakCount{}, fmt.Errorf("read asynq's counters of queue %s: %w", soakQueue, err)
	}
	c := soakCount{queueCounts: qc}
	for i, dst := range []*int64{&c.processed, &c.failed} {
		s, ok := vals[i].(string)
		if !ok { // no such key yet: 0
			continue
		}
		if *dst, err = strconv.ParseInt(s, 10, 64); err != nil {
			return soakCount{}, fmt.Errorf("asynq counter of queue %s: %w", soakQueue, err)
		}
	}
	return c, nil
}

// count fills in the final counts and checks every task ran exactly once.
func (r *SoakResult) count(ctx context.Context, env *Env) error {
	c, err := soakCounts(ctx, env)
	if err != nil {
		return err
	}
	r.Processed, r.Failed = c.processed, c.failed
	r.Pending, r.Active, r.Scheduled, r.Retry, r.Archived = c.Pending, c.Active, c.Scheduled, c.Retry, c.Archived
	if c.processed != int64(r.Tasks) || c.failed != 0 || c.left() != 0 {
		return fmt.Errorf("%d tasks enqueued, but asynq counts %d processed and %d failed, and %d pending, %d active, %d scheduled, %d retry, %d archived are left",
			r.Tasks, c.processed, c.failed, c.Pending, c.Active, c.Scheduled, c.Retry, c.Archived)
	}
	return nil
}
