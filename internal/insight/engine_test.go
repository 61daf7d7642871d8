package insight

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// run ticks the engine every interval for d and returns the anomalies
// raised, with the report of the last tick.
func run(t *testing.T, e *Engine, s *sim, d time.Duration) ([]Anomaly, *Report) {
	t.Helper()
	var raised []Anomaly
	var r *Report
	iv := e.Config().Interval
	for range int(d / iv) {
		s.step(iv)
		r = e.Tick(s.now, s.snaps(), s.queues())
		raised = append(raised, r.Raised...)
	}
	return raised, r
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// TestReplayKnownTruth replays a steady mix, then starts four kinds of
// trouble at once: each must be flagged within 60 s with the right
// explanation, and nothing else.
func TestReplayKnownTruth(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			t.Parallel()
			s := newSim(seed, 12, demoMix())
			e := newEngine(t, Config{})
			raised, r := run(t, e, s, 15*time.Minute)
			if len(raised) != 0 || !r.Ready {
				t.Fatalf("steady phase: ready %v, raised %+v", r.Ready, raised)
			}
			t0 := s.now
			pay := s.typ("payment:charge", "critical")
			pay.fail, pay.errText = 0.42, "context deadline exceeded: timeout after 30s"
			s.typ("image:resize", "default").median *= 3
			mail := s.typ("email:send", "default")
			mail.worker, mail.workerErr = 6, "dial tcp 10.0.3.7:25: connect: connection refused"
			s.stalled["reports"] = true

			raised, _ = run(t, e, s, 3*time.Minute)
			want := map[string][]string{
				key(KindErrorRate, "critical", "payment:charge", ""): {"failures", "baseline", "timeout after 30s", "of 12 workers"},
				key(KindDuration, "default", "image:resize", ""):     {"p95 duration", "baseline"},
				key(KindWorker, "default", "email:send", "w07"):      {"worker w07", "connection refused", "11 peers"},
				key(KindStuck, "reports", "", ""):                    {"queue reports", "nothing processed since"},
			}
			got := map[string]Anomaly{}
			for _, a := range raised {
				got[a.Key] = a
				if _, ok := want[a.Key]; !ok {
					t.Errorf("unexpected anomaly: %s", a.Summary)
				}
			}
			for k, words := range want {
				a, ok := got[k]
				if !ok {
					t.Errorf("not flagged: %s", k)
					continue
				}
				delay := a.Detected.Sub(t0)
				t.Logf("%-60s detected after %s: %s", k, delay, a.Summary)
				if delay > 60*time.Second {
					t.Errorf("%s flagged %s after its start, want at most 60s", k, delay)
				}
				for _, w := range words {
					if !strings.Contains(a.Summary, w) {
						t.Errorf("%s: summary %q lacks %q", k, a.Summary, w)
					}
				}
			}
			if a := got[key(KindErrorRate, "critical", "payment:charge", "")]; len(a.Examples) == 0 || a.Examples[0].TraceID == "" {
				t.Errorf("error spike without example traces: %+v", a.Examples)
			}
		})
	}
}

// TestSteadyRunQuiet runs the demo's mix for 30 minutes after the
// warm-up, over several seeds: no anomaly may be raised.
func TestSteadyRunQuiet(t *testing.T) {
	t.Parallel()
	const seeds = 8
	total, evals := 0, 0
	for seed := uint64(100); seed < 100+seeds; seed++ {
		s := newSim(seed, 12, demoMix())
		e := newEngine(t, Config{})
		run(t, e, s, DefaultWarmup)
		raised, r := run(t, e, s, 30*time.Minute)
		evals += len(r.Series) * int(30*time.Minute/DefaultInterval)
		total += len(raised)
		for _, a := range raised {
			t.Errorf("seed %d: false alarm: %s", seed, a.Summary)
		}
	}
	t.Logf("false positives: %d in %d series evaluations (%d seeds x 30 simulated minutes)", total, evals, seeds)
}

// TestWarmupSilent: trouble during the warm-up raises nothing.
func TestWarmupSilent(t *testing.T) {
	t.Parallel()
	s := newSim(7, 4, demoMix())
	e := newEngine(t, Config{})
	run(t, e, s, 2*time.Minute)
	s.typ("payment:charge", "critical").fail = 0.9
	s.stalled["reports"] = true
	raised, r := run(t, e, s, 3*time.Minute)
	if len(raised) != 0 || r.Ready {
		t.Fatalf("during the warm-up: ready %v, raised %+v", r.Ready, raised)
	}
}

// TestResolveWithHysteresis: a spike is raised once, stays one anomaly
// while it flickers, and resolves after the clear span once it ends.
func TestResolveWithHysteresis(t *testing.T) {
	t.Parallel()
	s := newSim(11, 6, demoMix())
	e := newEngine(t, Config{})
	run(t, e, s, 12*time.Minute)
	pay := s.typ("payment:charge", "critical")
	pay.fail, pay.errText = 0.5, "timeout after 30s"
	raised, _ := run(t, e, s, time.Minute)
	// Flicker: 10 s good, 10 s bad.
	for range 6 {
		pay.fail = 0.003
		r1, _ := run(t, e, s, 10*time.Second)
		pay.fail = 0.5
		r2, _ := run(t, e, s, 10*time.Second)
		raised = append(append(raised, r1...), r2...)
	}
	if len(raised) != 1 {
		t.Fatalf("raised %d anomalies, want 1 through the flicker: %+v", len(raised), raised)
	}
	pay.fail = 0.003
	var resolvedAt time.Time
	iv := e.Config().Interval
	end := s.now
	for range int(5 * time.Minute / iv) {
		s.step(iv)
		r := e.Tick(s.now, s.snaps(), s.queues())
		if len(r.Resolved) > 0 {
			resolvedAt = s.now
			break
		}
	}
	if resolvedAt.IsZero() {
		t.Fatal("the anomaly did not resolve within 5 minutes of the end")
	}
	if d := resolvedAt.Sub(end); d < DefaultClear {
		t.Fatalf("resolved %s after the end, before the clear span %s", d, DefaultClear)
	}
	if tl := e.State().Timeline; len(tl) != 1 || tl[0].Resolved.IsZero() {
		t.Fatalf("timeline: %+v", tl)
	}
}

// TestVersionRegression: during a rolling deploy the new plugin version
// fails where the old one succeeds.
func TestVersionRegression(t *testing.T) {
	t.Parallel()
	s := newSim(21, 6, demoMix())
	img := s.typ("image:resize", "default")
	img.version = "1.2.0"
	e := newEngine(t, Config{})
	run(t, e, s, 12*time.Minute)
	// A rolling deploy: workers 4-6 move to 1.3.0, which fails 40 %.
	img.failByVersion = map[string]float64{"1.3.0": 0.4}
	img.errByVersion = map[string]string{"1.3.0": "resize: unsupported colour space"}
	s.workersVersion(img.typ, map[int]string{3: "1.3.0", 4: "1.3.0", 5: "1.3.0"})
	raised, _ := run(t, e, s, 2*time.Minute)
	found := false
	for _, a := range raised {
		if a.Kind == KindVersion && a.Subject == "1.3.0" && strings.Contains(a.Summary, "1.2.0") {
			found = true
			t.Logf("%s", a.Summary)
			continue
		}
		if a.TaskType != "image:resize" {
			t.Errorf("unexpected: %s", a.Summary)
		}
	}
	if !found {
		t.Fatalf("no version regression among %+v", raised)
	}
}

// TestReportBounded: the report every replica reads at each tick stays
// small: at most 20 series with at most 40 points each.
func TestReportBounded(t *testing.T) {
	t.Parallel()
	types := demoMix()
	for i := range 40 {
		types = append(types, &simType{typ: "extra:" + string(rune('a'+i%26)) + string(rune('a'+i/26)), queue: "default",
			rate: 1, median: 10 * time.Millisecond, sigma: 0.2, worker: -1})
	}
	s := newSim(3, 4, types)
	e := newEngine(t, Config{})
	_, r := run(t, e, s, 12*time.Minute)
	if len(r.Series) != maxSeriesViews {
		t.Fatalf("%d series in the report, want %d", len(r.Series), maxSeriesViews)
	}
	for _, v := range r.Series {
		if len(v.History) != reportPoints || !v.History[len(v.History)-1].At.Equal(r.At) {
			t.Fatalf("%s: %d points, last at %v (report at %v)", v.Type, len(v.History), v.History[len(v.History)-1].At, r.At)
		}
	}
	b, _ := json.Marshal(r)
	t.Logf("report: %d bytes", len(b))
	if len(b) > 200<<10 {
		t.Fatalf("report of %d bytes", len(b))
	}
}

// TestThroughputDropAndTarget: the critical queue's workers keep up with
// a fifth of its arrivals: the throughput drop is flagged within 60 s,
// and with a target latency the wait warning follows; no other queue is
// flagged.
func TestThroughputDropAndTarget(t *testing.T) {
	t.Parallel()
	s := newSim(31, 12, demoMix())
	e := newEngine(t, Config{Targets: map[string]time.Duration{"critical": 20 * time.Second}})
	if raised, _ := run(t, e, s, 15*time.Minute); len(raised) != 0 {
		t.Fatalf("steady phase raised %+v", raised)
	}
	t0 := s.now
	s.slow["critical"] = 0.2
	raised, _ := run(t, e, s, 3*time.Minute)
	got := map[string]Anomaly{}
	for _, a := range raised {
		if a.Queue != "critical" {
			t.Errorf("unexpected: %s", a.Summary)
		}
		if _, ok := got[a.Kind]; !ok {
			got[a.Kind] = a
		}
	}
	drop, ok := got[KindThroughput]
	if !ok {
		t.Fatalf("no throughput drop among %+v", raised)
	}
	t.Logf("after %s: %s", drop.Detected.Sub(t0), drop.Summary)
	if d := drop.Detected.Sub(t0); d > 60*time.Second || !strings.Contains(drop.Summary, "baseline") {
		t.Errorf("throughput drop after %s: %s", d, drop.Summary)
	}
	target, ok := got[KindLatencyTarget]
	if !ok {
		t.Fatalf("no target warning among %+v", raised)
	}
	t.Logf("after %s: %s", target.Detected.Sub(t0), target.Summary)
}

// TestRestartKeepsBaselines: the state goes through JSON (as through
// Redis) into a new engine, which stays quiet, needs no second warm-up,
// and still flags a spike.
func TestRestartKeepsBaselines(t *testing.T) {
	t.Parallel()
	s := newSim(41, 8, demoMix())
	e := newEngine(t, Config{})
	run(t, e, s, 12*time.Minute)
	b, err := json.Marshal(e.State())
	if err != nil {
		t.Fatal(err)
	}
	st := NewState()
	if err := json.Unmarshal(b, st); err != nil {
		t.Fatal(err)
	}
	e2, err := New(Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	raised, r := run(t, e2, s, 2*time.Minute)
	if len(raised) != 0 || !r.Ready {
		t.Fatalf("after the restart: ready %v, raised %+v", r.Ready, raised)
	}
	s.typ("payment:charge", "critical").fail = 0.5
	raised, _ = run(t, e2, s, time.Minute)
	if len(raised) != 1 || raised[0].Kind != KindErrorRate {
		t.Fatalf("spike after the restart: %+v", raised)
	}
}
