package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// TestSoakPhase runs the soak with three real worker processes (built
// from cmd/worker) on 4 waves of 500 tasks and checks that every task is
// processed once and that the figures are gathered and reported. It does
// not judge them: whether memory grows is make bench's verdict (a loaded
// test machine is no place to measure it), so the phase runs with
// SoakReportOnly.
func TestSoakPhase(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the soak needs Linux's /proc")
	}
	srv := redistest.Start(t)
	opts := DefaultOptions()
	opts.RedisAddr = srv.Addr()
	opts.Phases = []string{PhaseSoak}
	opts.SoakTasks, opts.SoakWaves = 2000, 4
	opts.WaitTimeout = time.Minute
	opts.SoakReportOnly = true
	var prog testutil.LogBuffer
	opts.Progress = &prog

	rep, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, prog.String())
	}
	if len(rep.Sections) != 1 || rep.Sections[0].Key != PhaseSoak || rep.Sections[0].Soak == nil {
		t.Fatalf("sections = %+v", rep.Sections)
	}
	sec := rep.Sections[0]
	r := sec.Soak

	// Counts: every task completed once, nothing left.
	if r.Tasks != 2000 || r.TaskType != "demo:sleep" || r.Processed != 2000 || r.Failed != 0 ||
		r.Pending+r.Active+r.Scheduled+r.Retry+r.Archived != 0 {
		t.Errorf("counts: %+v", r)
	}
	wantNote := `Tasks: 2,000 enqueued; asynq counted 2,000 processed and 0 failed in queue "default", ` +
		"and 0 pending, 0 active, 0 scheduled, 0 retry, 0 archived are left: each task completed once."
	if len(sec.Notes) != 2 || sec.Notes[0] != wantNote || sec.Notes[1] != "Verdict: "+r.Verdict+"." {
		t.Errorf("notes = %q\nwant first %q", sec.Notes, wantNote)
	}

	// Workers: three processes other than this one, each with memory
	// figures. (VmHWM is not compared with the VmRSS readings: the kernel
	// updates it lazily, and the figures are make bench's.)
	if len(r.Workers) != SoakWorkers {
		t.Fatalf("workers = %+v", r.Workers)
	}
	pids := map[int]bool{os.Getpid(): true}
	for i, w := range r.Workers {
		if w.Name != fmt.Sprintf("worker %d", i+1) || pids[w.PID] || w.PeakRSS <= 0 || w.MaxSampledRSS < 0 {
			t.Errorf("worker %d = %+v", i+1, w)
		}
		pids[w.PID] = true
		// Stopped and reaped.
		if err := syscall.Kill(w.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Run: kill -0 = %v", w.Name, w.PID, err)
		}
	}

	// Waves: four of 500, each with Redis and worker memory.
	if len(r.Waves) != 4 || r.Baseline.Wave != 0 || r.Baseline.RedisUsedMemory <= 0 || len(r.Baseline.WorkerRSS) != SoakWorkers {
		t.Fatalf("waves = %+v, baseline = %+v", r.Waves, r.Baseline)
	}
	var sum float64
	for i, w := range r.Waves {
		if w.Wave != i+1 || w.Tasks != 500 || !(w.EnqueueSec > 0 && w.EnqueueSec <= w.DurationSec) ||
			w.RedisUsedMemory <= 0 || len(w.WorkerRSS) != SoakWorkers {
			t.Errorf("wave %d = %+v", i+1, w)
		}
		for j, v := range w.WorkerRSS {
			if v <= 0 {
				t.Errorf("wave %d worker %d RSS = %d", i+1, j+1, v)
			}
		}
		sum += w.DurationSec
	}
	if math.Abs(r.DurationSec-sum) > 1e-9 || math.Abs(r.Throughput-2000/sum) > 1e-6 || r.Throughput <= 0 {
		t.Errorf("duration %v (waves sum to %v), throughput %v", r.DurationSec, sum, r.Throughput)
	}
	if r.RedisPeakUsedMemory < r.Waves[3].RedisUsedMemory || r.RedisPeakUsedMemory < r.Baseline.RedisUsedMemory {
		t.Errorf("Redis peak %d below a reading: %+v", r.RedisPeakUsedMemory, r.Waves)
	}

	// Growth: wave 2 against wave 4, Redis then each worker, each judged
	// against its tolerance; the verdict is reported, not asserted.
	whats := []string{"Redis used_memory", "worker 1 RSS", "worker 2 RSS", "worker 3 RSS"}
	stable := true
	if len(r.Growth) != len(whats) {
		t.Fatalf("growth = %+v", r.Growth)
	}
	for i, g := range r.Growth {
		from, to := r.Waves[1].RedisUsedMemory, r.Waves[3].RedisUsedMemory
		if i > 0 {
			from, to = r.Waves[1].WorkerRSS[i-1], r.Waves[3].WorkerRSS[i-1]
		}
		if g.What != whats[i] || g.From != from || g.To != to {
			t.Errorf("growth %d = %+v, want %s from %d to %d", i, g, whats[i], from, to)
		}
		stable = stable && g.OK
	}
	if r.MemoryStable != stable || !strings.Contains(r.Verdict, "from wave 2 to wave 4: Redis used_memory ") ||
		strings.Count(r.Verdict, "): ok")+strings.Count(r.Verdict, "): TOO MUCH") != 4 {
		t.Errorf("verdict: stable %v (growth says %v), %q", r.MemoryStable, stable, r.Verdict)
	}
	t.Logf("soak verdict (not asserted; make bench judges it): %s", r.Verdict)

	// Rows, Markdown and JSON.
	if len(sec.Rows) != 7 || sec.row("soak", MetricThroughput).Median != r.Throughput ||
		sec.row("worker-2", "peak RSS (VmHWM)").Median != float64(r.Workers[1].PeakRSS)/(1<<20) {
		t.Errorf("rows = %+v", sec.Rows)
	}
	var md, js bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Soak: 2,000 tasks across 3 worker processes\n", "| start (idle) | 0 | – | – | – |",
		"| wave 4 | 500 | ", "| wave 2 → wave 4 | after wave 2 (MiB) |", "| worker 3 RSS | ", "| worker 1 | "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Sections []struct {
			Soak SoakResult `json:"soak"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Sections) != 1 ||
		back.Sections[0].Soak.Processed != 2000 || back.Sections[0].Soak.MemoryStable != r.MemoryStable || len(back.Sections[0].Soak.Waves) != 4 {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
	for _, want := range []string{"soak       building github.com/tuskq/tuskq/cmd/worker\n", "soak       3 worker processes started (pids ",
		"soak       wave 1/4       500 tasks", "soak       wave 4/4"} {
		if !strings.Contains(prog.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, prog.String())
		}
	}
	// Run leaves the database empty.
	env, err := newEnv(t.Context(), srv.Addr())
	if err != nil {
		t.Errorf("database not empty after Run: %v", err)
	} else {
		env.close()
	}
}

// TestSoakJudge checks the tolerances: a figure passes when it grows by
// less than the percentage or by less than the bytes.
func TestSoakJudge(t *testing.T) {
	t.Parallel()
	const mb = 1 << 20
	wave := func(redis int64, rss ...int64) SoakWave { return SoakWave{RedisUsedMemory: redis, WorkerRSS: rss} }
	r := &SoakResult{Waves: []SoakWave{
		wave(1*mb, 1*mb, 1*mb, 1*mb),
		wave(100*mb, 20*mb, 1*mb, 30*mb),   // wave 2
		wave(200*mb, 90*mb, 90*mb, 90*mb),  // ignored
		wave(105*mb, 30*mb, 5*mb/2, 25*mb), // wave 4
	}}
	r.judge()
	want := "memory keeps growing from wave 2 to wave 4: " +
		"Redis used_memory 100.0 → 105.0 MiB (+5.00 MiB, +5.0 %; tolerance 2 MiB or 10 %): ok; " +
		"worker 1 RSS 20.0 → 30.0 MiB (+10.00 MiB, +50.0 %; tolerance 8 MiB or 15 %): TOO MUCH; " +
		"worker 2 RSS 1.0 → 2.5 MiB (+1.50 MiB, +150.0 %; tolerance 8 MiB or 15 %): ok; " +
		"worker 3 RSS 30.0 → 25.0 MiB (-5.00 MiB, -16.7 %; tolerance 8 MiB or 15 %): ok"
	if r.MemoryStable || r.Verdict != want {
		t.Errorf("stable %v, verdict:\n%s\nwant:\n%s", r.MemoryStable, r.Verdict, want)
	}
	err := r.growthError()
	if !errors.Is(err, ErrMemoryGrowing) || err.Error() != want {
		t.Errorf("error = %v", err)
	}
	if oks := []bool{r.Growth[0].OK, r.Growth[1].OK, r.Growth[2].OK, r.Growth[3].OK}; fmt.Sprint(oks) != "[true false true true]" {
		t.Errorf("OK flags = %v", oks)
	}
	if !strings.Contains(r.summary(), "| worker 1 RSS | 20.00 | 30.00 | +10.00 | +50.0 | < 8 MiB or < 15 % | **growing** |\n") {
		t.Errorf("summary:\n%s", r.summary())
	}

	// Both tolerances exceeded for Redis only: +3 MiB and +30 %.
	r = &SoakResult{Waves: []SoakWave{wave(0), wave(10 * mb), wave(13 * mb)}}
	r.judge()
	if r.MemoryStable || len(r.Growth) != 1 || r.Verdict != "memory keeps growing from wave 2 to wave 3: "+
		"Redis used_memory 10.0 → 13.0 MiB (+3.00 MiB, +30.0 %; tolerance 2 MiB or 10 %): TOO MUCH" {
		t.Errorf("stable %v, verdict %q", r.MemoryStable, r.Verdict)
	}
	r = &SoakResult{Waves: []SoakWave{wave(0, 0), wave(10*mb, 40*mb), wave(10*mb+1, 40*mb)}}
	r.judge()
	if !r.MemoryStable || !strings.HasPrefix(r.Verdict, "memory not growing from wave 2 to wave 3: ") {
		t.Errorf("stable %v, verdict %q", r.MemoryStable, r.Verdict)
	}
}

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	m, err := parseProcStatus("status", []byte("Name:\tworker\nVmPeak:\t 1000 kB\nVmHWM:\t   30000 kB\nVmRSS:\t   25000 kB\nThreads:\t9\n"))
	if err != nil || m.hwm != 30000<<10 || m.rss != 25000<<10 {
		t.Errorf("parse = %+v, %v", m, err)
	}
	for _, c := range []struct{ in, want string }{
		{"VmRSS:\t 12 kB\n", "status: no VmRSS or VmHWM line"},
		{"VmRSS:\t 12 MB\nVmHWM:\t 12 kB\n", `status: unexpected line "VmRSS:\t 12 MB"`},
	} {
		if _, err := parseProcStatus("status", []byte(c.in)); err == nil || err.Error() != c.want {
			t.Errorf("parse %q: %v, want %s", c.in, err, c.want)
		}
	}
	if runtime.GOOS == "linux" {
		if m, err := procStatus(os.Getpid()); err != nil || m.rss <= 0 || m.hwm < m.rss {
			t.Errorf("own status = %+v, %v", m, err)
		}
	}
}

func TestSoakOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--soak-waves", "2"}, "  --soak-waves: must be at least 3, got 2\n"},
		{[]string{"--soak-tasks", "3"}, "  --soak-tasks: must be at least --soak-waves (4), got 3\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), c.args, &stdout, &stderr)
		if want := "bench: bad benchmark options:\n" + c.want; code != cli.ExitUsage || stderr.String() != want {
			t.Errorf("Main(%q) = %d, stderr:\n%s\nwant:\n%s", c.args, code, stderr.String(), want)
		}
	}
}
