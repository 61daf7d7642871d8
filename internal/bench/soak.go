package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
	if !res.MemoryStable {
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
		res.Workers = append(res.Workers, SoakWorker{Name: p.name, PID: p.cmd.Process.Pid})
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
		st, err := procStatus(p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
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
			if p.exited() {
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

// measureWave reads Redis used_memory and each worker's VmRSS.
func measureWave(ctx context.Context, env *Env, procs []*soakProc) (SoakWave, error) {
	var w SoakWave
	var err error
	if w.RedisUsedMemory, err = usedMemory(ctx, env); err != nil {
		return SoakWave{}, err
	}
	for _, p := range procs {
		st, err := procStatus(p.cmd.Process.Pid)
		if err != nil {
			return SoakWave{}, fmt.Errorf("%s: %w", p.name, err)
		}
		w.WorkerRSS = append(w.WorkerRSS, st.rss)
	}
	return w, nil
}

// usedMemory is INFO memory used_memory.
func usedMemory(ctx context.Context, env *Env) (int64, error) {
	v, err := env.infoField(ctx, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis INFO memory: field used_memory: %w", err)
	}
	return n, nil
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
	prefix := "asynq:{" + soakQueue + "}:"
	vals, err := env.RDB.MGet(ctx, prefix+"processed", prefix+"failed").Result()
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

// judge computes Growth, MemoryStable and Verdict from the second wave to
// the last.
func (r *SoakResult) judge() {
	r.Growth = nil
	r.MemoryStable = true
	if len(r.Waves) < 3 {
		r.Verdict = "not judged: fewer than 3 waves"
		return
	}
	from, to := r.Waves[1], r.Waves[len(r.Waves)-1]
	add := func(what string, a, b int64, tolPct float64, tolBytes int64) {
		g := SoakGrowth{What: what, From: a, To: b, TolPercent: tolPct, TolBytes: tolBytes}
		if a > 0 {
			g.Percent = 100 * float64(b-a) / float64(a)
		}
		g.OK = g.Bytes() < tolBytes || (a > 0 && g.Percent < tolPct)
		r.MemoryStable = r.MemoryStable && g.OK
		r.Growth = append(r.Growth, g)
	}
	add("Redis used_memory", from.RedisUsedMemory, to.RedisUsedMemory, soakRedisTolPct, soakRedisTolBytes)
	for i := range min(len(from.WorkerRSS), len(to.WorkerRSS)) {
		add(fmt.Sprintf("worker %d RSS", i+1), from.WorkerRSS[i], to.WorkerRSS[i], soakRSSTolPct, soakRSSTolBytes)
	}
	parts := make([]string, len(r.Growth))
	for i, g := range r.Growth {
		parts[i] = g.String()
	}
	span := fmt.Sprintf("from wave 2 to wave %d", len(r.Waves))
	if r.MemoryStable {
		r.Verdict = "memory not growing " + span + ": " + strings.Join(parts, "; ")
	} else {
		r.Verdict = ErrMemoryGrowing.Error() + " " + span + ": " + strings.Join(parts, "; ")
	}
}

// String describes the growth: "Redis used_memory 1.2 → 1.3 MiB (+0.1 MiB,
// +8.3 %; tolerance 2 MiB or 10 %): ok".
func (g SoakGrowth) String() string {
	verdict := "ok"
	if !g.OK {
		verdict = "TOO MUCH"
	}
	return fmt.Sprintf("%s %s → %s MiB (%s MiB, %s %%; tolerance %s MiB or %.0f %%): %s",
		g.What, mib(g.From, 1), mib(g.To, 1), signed(mib(g.Bytes(), 2)), signed(Format(g.Percent, 1)),
		mib(g.TolBytes, 0), g.TolPercent, verdict)
}

// growthError is the error of a run whose memory keeps growing: the
// verdict, every figure with its tolerance, the culprits marked TOO MUCH.
func (r *SoakResult) growthError() error {
	return fmt.Errorf("%w%s", ErrMemoryGrowing, strings.TrimPrefix(r.Verdict, ErrMemoryGrowing.Error()))
}

// rows are the headline figures, one value each.
func (r *SoakResult) rows() []Row {
	var s series
	all := Target{Key: "soak", Name: fmt.Sprintf("%d tuskq worker processes", SoakWorkers)}
	s.add(all, MetricThroughput, "tasks/s", 0, r.Throughput)
	s.add(all, "duration of the waves", "s", 1, r.DurationSec)
	for i, w := range r.Workers {
		t := Target{Key: fmt.Sprintf("worker-%d", i+1), Name: w.Name}
		s.add(t, "peak RSS (VmHWM)", "MiB", 1, float64(w.PeakRSS)/(1<<20))
	}
	redis := Target{Key: "redis", Name: "Redis"}
	s.add(redis, "peak used_memory", "MiB", 2, float64(r.RedisPeakUsedMemory)/(1<<20))
	if len(r.Waves) > 0 {
		s.add(redis, "used_memory after the last wave", "MiB", 2, float64(r.Waves[len(r.Waves)-1].RedisUsedMemory)/(1<<20))
	}
	return s.done()
}

// summary is the per-wave table and the growth table, in Markdown.
func (r *SoakResult) summary() string {
	var b strings.Builder
	b.WriteString("| after | tasks | enqueue (s) | enqueue to drained (s) | tasks/s | Redis used_memory (MiB) |")
	for _, w := range r.Workers {
		fmt.Fprintf(&b, " %s RSS (MiB) |", w.Name)
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|" + strings.Repeat("---:|", len(r.Workers)) + "\n")
	row := func(label string, w SoakWave) {
		rate, enq, dur := "–", "–", "–"
		if w.DurationSec > 0 {
			rate = Format(float64(w.Tasks)/w.DurationSec, 0)
			enq, dur = Format(w.EnqueueSec, 1), Format(w.DurationSec, 1)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |", label, Format(float64(w.Tasks), 0), enq, dur, rate, mib(w.RedisUsedMemory, 2))
		for _, v := range w.WorkerRSS {
			b.WriteString(" " + mib(v, 1) + " |")
		}
		b.WriteString("\n")
	}
	row("start (idle)", r.Baseline)
	for _, w := range r.Waves {
		row(fmt.Sprintf("wave %d", w.Wave), w)
	}
	if len(r.Growth) > 0 {
		fmt.Fprintf(&b, "\n| wave 2 → wave %d | after wave 2 (MiB) | after wave %d (MiB) | growth (MiB) | growth (%%) | tolerance | verdict |\n|---|---:|---:|---:|---:|---|---|\n",
			len(r.Waves), len(r.Waves))
		for _, g := range r.Growth {
			verdict := "not growing"
			if !g.OK {
				verdict = "**growing**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | < %s MiB or < %.0f %% | %s |\n", g.What, mib(g.From, 2), mib(g.To, 2),
				signed(mib(g.Bytes(), 2)), signed(Format(g.Percent, 1)), mib(g.TolBytes, 0), g.TolPercent, verdict)
		}
	}
	fmt.Fprintf(&b, "\n| worker | pid | peak RSS, VmHWM (MiB) | highest sampled VmRSS (MiB) |\n|---|---:|---:|---:|\n")
	for _, w := range r.Workers {
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", w.Name, w.PID, mib(w.PeakRSS, 1), mib(w.MaxSampledRSS, 1))
	}
	return b.String()
}

// mib formats bytes as MiB.
func mib(v int64, decimals int) string { return Format(float64(v)/(1<<20), decimals) }

// signed prefixes a formatted non-negative number with "+".
func signed(s string) string {
	if strings.HasPrefix(s, "-") {
		return s
	}
	return "+" + s
}

func pidList(ws []SoakWorker) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = strconv.Itoa(w.PID)
	}
	return strings.Join(s, ", ")
}

func rssList(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = mib(v, 1)
	}
	return strings.Join(s, "/")
}

// procMem is the memory lines of /proc/<pid>/status, in bytes.
type procMem struct {
	rss, hwm int64
}

// procStatus reads VmRSS and VmHWM of a process.
func procStatus(pid int) (procMem, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return procMem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	return parseProcStatus(path, b)
}

// parseProcStatus parses the VmRSS and VmHWM lines ("VmRSS:  1234 kB").
func parseProcStatus(path string, b []byte) (procMem, error) {
	var m procMem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch {
		case !ok:
			continue
		case k == "VmRSS":
			dst = &m.rss
		case k == "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return procMem{}, fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		*dst = n << 10
	}
	if m.rss == 0 || m.hwm == 0 {
		return procMem{}, fmt.Errorf("%s: no VmRSS or VmHWM line", path)
	}
	return m, nil
}

// sampler reads Redis used_memory and the workers' VmRSS every
// soakSampleEvery until stopped.
type sampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples []SoakSample
	err     error
}

func startSampler(env *Env, procs []*soakProc, start time.Time) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(soakSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			w, err := measureWave(ctx, env, procs)
			if err != nil {
				if ctx.Err() == nil {
					s.err = fmt.Errorf("memory sampler: %w", err)
				}
				return
			}
			s.samples = append(s.samples, SoakSample{ElapsedSec: time.Since(start).Seconds(),
				RedisUsedMemory: w.RedisUsedMemory, WorkerRSS: w.WorkerRSS})
		}
	}()
	return s
}

// stop ends the sampler and returns its samples; err is the run's error,
// joined with the sampler's own only when the run succeeded.
func (s *sampler) stop(err error) ([]SoakSample, error) {
	s.cancel()
	<-s.done
	if err == nil {
		err = s.err
	}
	return s.samples, err
}

// applySamples folds the samples into the peaks.
func (r *SoakResult) applySamples() {
	for _, smp := range r.Samples {
		r.RedisPeakUsedMemory = max(r.RedisPeakUsedMemory, smp.RedisUsedMemory)
		for i, v := range smp.WorkerRSS {
			if i < len(r.Workers) {
				r.Workers[i].MaxSampledRSS = max(r.Workers[i].MaxSampledRSS, v)
			}
		}
	}
}

// soakProc is a worker process of the soak, its output in a log file.
type soakProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, set before done is closed

	termOnce sync.Once
}

// startSoakProc runs the worker binary against the Redis at addr, with an
// environment stripped of TUSKQ_ variables and its output in dir.
func startSoakProc(bin, addr, dir string, n int) (*soakProc, error) {
	name := fmt.Sprintf("worker %d", n)
	logPath := filepath.Join(dir, fmt.Sprintf("worker-%d.log", n))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUSKQ_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TUSKQ_REDIS_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = soakProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &soakProc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// waitStarted waits for the worker's "worker started" log line.
func (p *soakProc) waitStarted(ctx context.Context) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if bytes.Contains(b, []byte(`"msg":"worker started"`)) {
			return nil
		}
		if p.exited() {
			return p.diedError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s did not log \"worker started\" within %s; last lines:\n%s", ErrTimeout, p.name, stopTimeout, p.tail(5))
		}
		if err := sleep(ctx, soakPoll); err != nil {
			return err
		}
	}
}

func (p *soakProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM once: the worker shuts down gracefully.
func (p *soakProc) terminate() {
	p.termOnce.Do(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
}

// wait waits up to stopTimeout for the exit after terminate, then kills
// the process. It reports a kill or an unsuccessful exit.
func (p *soakProc) wait() error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited: %w; last lines:\n%s", p.name, p.err, p.tail(5))
		}
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%w: %s did not stop within %s of SIGTERM and was killed", ErrTimeout, p.name, stopTimeout)
}

// diedError describes a worker that exited during the run.
func (p *soakProc) diedError() error {
	return fmt.Errorf("%s exited during the run (%v); last lines:\n%s", p.name, p.err, p.tail(5))
}

// tail returns the last n lines of the log (from its last 64 KiB),
// indented.
func (p *soakProc) tail(n int) string {
	b, err := readTail(p.logPath, 64<<10)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// logTails is the end of every worker's log, for an error message.
func logTails(procs []*soakProc) string {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "\n  %s, last lines:\n%s", p.name, p.tail(3))
	}
	return b.String()
}

// readTail returns up to the last limit bytes of a file.
func readTail(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(b, off)
	return b, err
}
