package insight

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestDrainForecast: on a steady backlog, the drain forecast made at
// several moments is within ±20 % of the time the simulated fleet really
// takes to drain it. The fleet is simulated honestly: 4 workers each run
// one task at a time with log-normal durations, Poisson arrivals keep
// coming, and the queue only shrinks by what the workers finish.
func TestDrainForecast(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		now := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		const workers = 4
		recs := make([]*Recorder, workers)
		carry := make([]time.Duration, workers)
		for i := range recs {
			recs[i] = NewRecorder(RecorderOptions{Worker: string(rune('a' + i)), Queues: []string{"bulk"}, Now: clock})
		}
		e := newEngine(t, Config{Targets: map[string]time.Duration{"bulk": 2 * time.Minute}})
		pending, done := 12000, 0
		s := &sim{rng: rng}
		iv := e.Config().Interval
		type guess struct {
			at    time.Time
			drain float64
		}
		var guesses []guess
		var drained time.Time
		for step := 0; step < 2000 && drained.IsZero(); step++ {
			now = now.Add(iv)
			pending += s.poisson(20 * iv.Seconds())
			for w := range recs {
				budget := iv + carry[w]
				for pending > 0 {
					d := time.Duration(float64(100*time.Millisecond) * math.Exp(0.3*rng.NormFloat64()))
					if d > budget {
						carry[w] = budget
						break
					}
					budget -= d
					pending--
					done++
					recs[w].Sink("bulk:job", "bulk").Observe(d, false, false, Example{})
				}
			}
			snaps := make([]WorkerSnapshot, workers)
			for i, r := range recs {
				snaps[i] = r.Snapshot()
			}
			r := e.Tick(now, snaps, []QueueStat{{Name: "bulk", Pending: pending, Done: done}})
			if pending == 0 {
				drained = now
				break
			}
			if step >= 12 && step%12 == 0 && len(r.Forecasts) == 1 && r.Forecasts[0].DrainSeconds > 0 {
				guesses = append(guesses, guess{now, r.Forecasts[0].DrainSeconds})
			}
			if step == 30 && (len(r.Forecasts) != 1 || !r.Forecasts[0].AtRisk) {
				t.Errorf("seed %d: a 12000-task backlog at ~18 tasks/s net is not at risk of a 2m target: %+v", seed, r.Forecasts)
			}
		}
		if drained.IsZero() || len(guesses) < 2 {
			t.Fatalf("seed %d: drained %v with %d forecasts", seed, drained, len(guesses))
		}
		for _, g := range guesses {
			actual := drained.Sub(g.at).Seconds()
			if actual < 30 {
				continue // the last seconds are all noise
			}
			errPct := 100 * (g.drain - actual) / actual
			t.Logf("seed %d: forecast %.0fs, actual %.0fs (%+.1f %%)", seed, g.drain, actual, errPct)
			if math.Abs(errPct) > 20 {
				t.Errorf("seed %d: drain forecast %.0fs at %s, actual %.0fs: off by %.1f %%", seed, g.drain, g.at.Format("15:04:05"), actual, errPct)
			}
		}
	}
}
