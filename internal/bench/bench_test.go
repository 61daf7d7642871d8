package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

func TestMedianPercentileFormat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 5}, 5},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}

	ds := make([]time.Duration, 200)
	for i := range ds {
		ds[i] = time.Duration(200-i) * time.Millisecond // 200ms … 1ms
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("Percentile(p%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}

	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{
		{9875.4, 0, "9,875"}, {1234567.891, 2, "1,234,567.89"}, {0.954, 2, "0.95"},
		{-1234.5, 1, "-1,234.5"}, {999, 0, "999"}, {math.NaN(), 1, "n/a"}, {-0.001, 1, "0.0"},
	} {
		if got := Format(c.v, c.d); got != c.want {
			t.Errorf("Format(%v, %d) = %q, want %q", c.v, c.d, got, c.want)
		}
	}
}

func TestReportRendering(t *testing.T) {
	t.Parallel()
	var s series
	a, b := Target{Key: "a", Name: "A"}, Target{Key: "b", Name: "B"}
	for _, v := range [][2]float64{{100, 200}, {90, 100}, {120, 100}} {
		s.add(a, MetricThroughput, "tasks/s", 0, v[0])
		s.add(b, MetricThroughput, "tasks/s", 0, v[1])
	}
	sec := Section{Key: "x", Title: "X", About: "about x", Rows: s.done(), Notes: []string{"a note"}}
	sec.addRatio("A / B", MetricThroughput, "a", "b", 0.95)
	sec.addRatio("missing", MetricThroughput, "a", "nope", 0)
	rep := &Report{
		Environment: Environment{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DurationSec: 61, Rounds: 3,
			OS: "linux", Arch: "amd64", NumCPU: 2, GOMAXPROCS: 2, GoVersion: "go1.26.8",
			RedisVersion: "7.0.15", RedisAddr: "127.0.0.1:1", AsynqVersion: "v0.26.0"},
		Sections: []Section{sec},
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	want := "## tuskq benchmark run\n\n" +
		"- started 2026-01-02T03:04:05Z, took 61 s\n" +
		"- machine: linux/amd64, 2 CPUs (GOMAXPROCS 2), go1.26.8\n" +
		"- Redis 7.0.15 on 127.0.0.1:1, one server for the whole run; asynq v0.26.0\n" +
		"- 3 rounds, targets interleaved within each round (the order rotated from round to round); figures are medians of the rounds\n" +
		"\n### X\n\nabout x\n\n" +
		"| target | metric | median | round 1 | round 2 | round 3 |\n" +
		"|---|---|---:|---:|---:|---:|\n" +
		"| A | throughput (tasks/s) | **100** | 100 | 90 | 120 |\n" +
		"| B | throughput (tasks/s) | **100** | 200 | 100 | 100 |\n" +
		"\n| ratio or goal | median | round 1 | round 2 | round 3 | goal |\n" +
		"|---|---:|---:|---:|---:|---|\n" +
		"| A / B | **0.90** | 0.50 | 0.90 | 1.20 | ≥ 0.95: **not met** |\n" +
		"\n- a note\n"
	if md.String() != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", md.String(), want)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sections []struct {
			Rows []struct {
				TargetKey string    `json:"target_key"`
				Median    float64   `json:"median"`
				Rounds    []float64 `json:"rounds"`
			} `json:"rows"`
			Ratios []struct {
				Name   string  `json:"name"`
				Median float64 `json:"median"`
				Goal   float64 `json:"goal"`
				Met    *bool   `json:"met"`
			} `json:"ratios"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.String())
	}
	r := got.Sections[0]
	if len(r.Rows) != 2 || r.Rows[1].TargetKey != "b" || r.Rows[1].Median != 100 || len(r.Rows[1].Rounds) != 3 {
		t.Errorf("JSON rows = %+v", r.Rows)
	}
	if len(r.Ratios) != 1 || r.Ratios[0].Median != 0.9 || r.Ratios[0].Goal != 0.95 || r.Ratios[0].Met == nil || *r.Ratios[0].Met {
		t.Errorf("JSON ratios = %+v", r.Ratios)
	}
}

func TestMainUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rounds", "x"}, "bench: invalid argument \"x\" for \"--rounds\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\nRun 'bench --help' for usage.\n"},
		{[]string{"extra"}, "bench: unexpected argument \"extra\": bench takes flags only\nRun 'bench --help' for usage.\n"},
		{[]string{"--nope"}, "bench: unknown flag: --nope\nRun 'bench --help' for usage.\n"},
		{
			[]string{"--tasks", "1", "--concurrency", "0", "--gap-min", "2s", "--only", "throughput,speed"},
			"bench: bad benchmark options:\n" +
				"  --tasks: must be at least 2, got 1\n" +
				"  --concurrency: must be at least 1, got 0\n" +
				"  --gap-min/--gap-max: need 0 <= gap-min <= gap-max, got 2s and 50ms\n" +
				"  --only: unknown phase \"speed\"; expected a comma-separated subset of throughput,latency,enqueue,sweep,fleet,burst,bullmq,soak\n",
		},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), c.args, &stdout, &stderr)
		if code != cli.ExitUsage || stderr.String() != c.want || stdout.Len() != 0 {
			t.Errorf("Main(%q) = %d, stderr:\n%s\nwant %d, stderr:\n%s", c.args, code, stderr.String(), cli.ExitUsage, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(t.Context(), []string{"--help"}, &stdout, &stderr); code != cli.ExitOK ||
		!strings.HasPrefix(stdout.String(), "Usage: bench [flags]\n") || !strings.Contains(stdout.String(), "--redis-addr string") {
		t.Errorf("--help = %d, stdout:\n%s", code, stdout.String())
	}
}

func TestRunRefusesNonEmptyRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	env, err := newEnv(t.Context(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	err = env.RDB.Set(t.Context(), "precious", "1", 0).Err()
	env.close()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"--redis-addr", srv.Addr(), "--only", "enqueue"}, &stdout, &stderr)
	want := "bench: redis database is not empty: " + srv.Addr() + " holds 1 keys in database 0, and the benchmark flushes it; " +
		"point --redis-addr at a throwaway Redis, or leave it empty to start one\n"
	if code != cli.ExitFailure || stderr.String() != want {
		t.Errorf("Main = %d, stderr:\n%s\nwant %d, stderr:\n%s", code, stderr.String(), cli.ExitFailure, want)
	}
}

// fastTargets are the throughput and latency targets with short poll
// intervals, so that the test does not wait for asynq's 1 s default.
func fastTargets() []Target {
	cfg := TuskqDefaults(8)
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.Queues = map[string]int{"default": 1}
	return []Target{
		BareAsynq(KeyBare, "bare", asynq.Config{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond}),
		TuskqWorker(KeyTuskq, "tuskq", cfg, WithServers(2)),
	}
}

func TestRunAllPhases(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := DefaultOptions()
	opts.RedisAddr = srv.Addr()
	opts.Tasks = 300
	opts.Rounds = 2
	opts.LatencyTasks = 5
	opts.GapMin, opts.GapMax = time.Millisecond, 3*time.Millisecond
	opts.IdleSettle, opts.IdleWindow = 0, 100*time.Millisecond
	opts.WaitTimeout = 30 * time.Second
	opts.ThroughputTargets = fastTargets()
	opts.LatencyTargets = fastTargets()
	opts.SweepIntervals = []time.Duration{10 * time.Millisecond}
	opts.SweepTasks = 3
	opts.FleetSizes = []int{1, 2}
	opts.BurstWorkers, opts.BurstTasks = 3, 300
	opts.Phases = []string{PhaseThroughput, PhaseLatency, PhaseEnqueue, PhaseSweep, PhaseFleet, PhaseBurst} // soak: soak_test.go
	opts.CPUProfileDir = t.TempDir()
	var prog testutil.LogBuffer
	opts.Progress = &prog

	rep, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, prog.String())
	}
	if len(rep.Sections) != 6 {
		t.Fatalf("sections = %d, want 6", len(rep.Sections))
	}
	th, lat, enq, sweep, fleet, burst := rep.Sections[0], rep.Sections[1], rep.Sections[2], rep.Sections[3], rep.Sections[4], rep.Sections[5]
	for _, c := range []struct {
		s      Section
		key    string
		rows   int
		ratios []string
	}{
		{th, PhaseThroughput, 8, []string{
			"tuskq / bare asynq, both at defaults (issue 6: ≥ 1.15)",
			"worker CPU per task, tuskq / bare asynq at defaults (issue 6: ≤ 1.05)",
		}},
		{lat, PhaseLatency, 10, []string{
			"tuskq worker pickup p99 at defaults (ms)", "pickup p99, bare asynq / tuskq", "idle Redis commands/s, tuskq / bare asynq",
		}},
		{enq, PhaseEnqueue, 12, []string{
			"EnqueueMany / Enqueue loop (issue 2: ≥ 3)", "EnqueueMany, tasks/s (issue 6: ≥ 45,000)",
			"enqueue --batch, tasks/s (issue 6: ≥ 45,000)", "tasks.Client.Enqueue loop / asynq.Client.Enqueue loop",
		}},
		{sweep, PhaseSweep, 10, nil},
		{fleet, PhaseFleet, 4, []string{"Redis commands/s of 1 idle worker"}},
		{burst, PhaseBurst, 3, []string{"fetches per single task among the idle workers"}},
	} {
		if c.s.Key != c.key || len(c.s.Rows) != c.rows {
			t.Errorf("section %s: key %q, %d rows; want %d rows", c.key, c.s.Key, len(c.s.Rows), c.rows)
		}
		var names []string
		for _, r := range c.s.Ratios {
			names = append(names, r.Name)
			if len(r.Rounds) != 2 || !(r.Median > 0) {
				t.Errorf("ratio %q = %v", r.Name, r.Rounds)
			}
		}
		if strings.Join(names, "|") != strings.Join(c.ratios, "|") {
			t.Errorf("section %s ratios = %q, want %q", c.key, names, c.ratios)
		}
		for _, r := range c.s.Rows {
			if len(r.Rounds) != 2 || math.IsNaN(r.Median) {
				t.Errorf("%s %s/%s: rounds %v median %v", c.key, r.TargetKey, r.Metric, r.Rounds, r.Median)
			}
		}
	}
	for _, key := range []string{KeyBare, KeyTuskq} {
		if v := th.row(key, MetricThroughput).Median; v <= 0 {
			t.Errorf("%s throughput = %v", key, v)
		}
		if v := th.row(key, MetricRedisCmds).Median; v < 2 {
			t.Errorf("%s Redis commands per task = %v, want at least the 2 script calls", key, v)
		}
		p50, p99 := lat.row(key, MetricP50).Median, lat.row(key, MetricP99).Median
		if !(p50 > 0 && p50 <= p99) { // the figures themselves are make bench's
			t.Errorf("%s latency p50 %v p99 %v ms", key, p50, p99)
		}
		if v := lat.row(key, MetricIdleCmds).Median; v <= 0 {
			t.Errorf("%s idle commands/s = %v", key, v)
		}
	}
	if got := strings.Count(prog.String(), "\n"); got != 2*(2+2+4+2+2+1) {
		t.Errorf("progress has %d lines, want 26:\n%s", got, prog.String())
	}
	if one, two := fleet.row("fleet-1", MetricIdleCmds).Median, fleet.row("fleet-2", MetricIdleCmds).Median; !(one > 0 && two > 0) {
		t.Errorf("fleet idle commands/s: 1 worker %v, 2 workers %v", one, two)
	}
	if !strings.Contains(sweep.Summary, "| 10ms | 3 |") || !strings.Contains(sweep.Summary, "| 10ms | 1 |") {
		t.Errorf("sweep summary:\n%s", sweep.Summary)
	}
	if r := enq.row(KeyCLIBatch, MetricEnqueueRate); r == nil || !(r.Median > 0) {
		t.Errorf("CLI batch rate row = %+v", r)
	}
	profiles, err := os.ReadDir(opts.CPUProfileDir)
	if err != nil || len(profiles) != 4 || profiles[0].Name() != "throughput-bare-round1.pprof" {
		t.Errorf("profiles = %v, %v", profiles, err)
	}
	// Run leaves the database empty.
	env, err := newEnv(t.Context(), srv.Addr())
	if err != nil {
		t.Errorf("database not empty after Run: %v", err)
	} else {
		env.close()
	}
}

// TestMainStartsAndStopsRedis runs the CLI with its own redis-server and
// checks the server and its directory are gone afterwards, after a
// complete run and after an interrupted one.
func TestMainStartsAndStopsRedis(t *testing.T) {
	t.Parallel()
	started := regexp.MustCompile(`started redis-server on (\S+) \(data in (\S+)\)`)
	gone := func(t *testing.T, stderr string) {
		t.Helper()
		m := started.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("no start line in stderr:\n%s", stderr)
		}
		if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
			c.Close()
			t.Errorf("redis-server on %s still answers", m[1])
		}
		if _, err := os.Stat(m[2]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data directory %s still exists: %v", m[2], err)
		}
	}

	t.Run("complete", func(t *testing.T) {
		t.Parallel()
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), []string{"--only", "enqueue", "--tasks", "50", "--rounds", "1", "--json", "-"}, &stdout, &stderr)
		if code != cli.ExitOK {
			t.Fatalf("Main = %d, stderr:\n%s", code, stderr.String())
		}
		var rep struct {
			Environment Environment `json:"environment"`
			Sections    []Section   `json:"sections"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
		}
		if len(rep.Sections) != 1 || rep.Sections[0].Key != PhaseEnqueue || rep.Environment.Tasks != 50 ||
			rep.Environment.Command != "bench --only enqueue --tasks 50 --rounds 1 --json -" {
			t.Errorf("report = %+v", rep)
		}
		gone(t, stderr.String())
	})

	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var stdout testutil.LogBuffer
		var stderr testutil.LogBuffer
		go func() {
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stderr.String(), "started redis-server") && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		start := time.Now()
		code := Main(ctx, []string{"--only", "latency", "--idle-settle", "1h"}, &stdout, &stderr)
		if code != cli.ExitFailure || !strings.Contains(stderr.String(), "interrupted") || stdout.String() != "" {
			t.Errorf("Main = %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
		}
		if el := time.Since(start); el > 30*time.Second {
			t.Errorf("interrupted run took %s", el)
		}
		gone(t, stderr.String())
	})
}
