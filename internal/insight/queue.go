package insight

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Forecast is the outlook of one queue at the current rates.
type Forecast struct {
	// Queue is the queue.
	Queue string `json:"queue"`
	// Pending, Active, Scheduled and Retry are the current counts.
	Pending   int `json:"pending"`
	Active    int `json:"active"`
	Scheduled int `json:"scheduled"`
	Retry     int `json:"retry"`
	// Rate is the tasks finished per second over the window.
	Rate float64 `json:"rate"`
	// Arrival is the tasks made pending per second over the window
	// (enqueued, or due from scheduled and retry).
	Arrival float64 `json:"arrival"`
	// DrainSeconds is the time until the backlog is gone at the current
	// rates: 0 with no backlog, -1 when it does not shrink.
	DrainSeconds float64 `json:"drain_seconds"`
	// WaitSeconds is how long a task enqueued now would wait before it
	// starts (the pending tasks ahead of it at the current rate), -1 when
	// nothing is processed while tasks wait.
	WaitSeconds float64 `json:"wait_seconds"`
	// LatencySeconds is the age of the oldest pending task.
	LatencySeconds float64 `json:"latency_seconds"`
	// TargetSeconds is the queue's target latency, 0 when none is set.
	TargetSeconds float64 `json:"target_seconds,omitempty"`
	// AtRisk reports a wait or latency beyond the target.
	AtRisk bool `json:"at_risk,omitempty"`
}

// sumDone returns the tasks finished on queue q in the ticks after from.
func (e *Engine) sumDone(q string, from time.Time) float64 {
	n := 0.0
	for _, t := range e.ticks {
		if t.at.After(from) {
			n += t.done[q]
		}
	}
	return n
}

// forecast computes queue q's forecast at now.
func (e *Engine) forecast(now time.Time, st QueueStat) Forecast {
	f := Forecast{Queue: st.Name, Pending: st.Pending, Active: st.Active, Scheduled: st.Scheduled, Retry: st.Retry,
		LatencySeconds: st.Latency.Seconds(), TargetSeconds: e.cfg.Targets[st.Name].Seconds()}
	from := e.ticks[0].at
	span := now.Sub(from).Seconds()
	if span <= 0 {
		return f
	}
	f.Rate = e.sumDone(st.Name, from) / span
	ref, ok := e.queueAt(st.Name, from)
	if ok {
		f.Arrival = max(0, float64(st.Pending-ref.Pending)/span+f.Rate)
	}
	switch {
	case st.Pending == 0:
	case f.Rate > f.Arrival && ok:
		f.DrainSeconds = float64(st.Pending) / (f.Rate - f.Arrival)
	default:
		f.DrainSeconds = -1
	}
	switch {
	case st.Pending == 0:
	case f.Rate > 0:
		f.WaitSeconds = float64(st.Pending) / f.Rate
	default:
		f.WaitSeconds = -1
	}
	if f.TargetSeconds > 0 && st.Pending > 0 {
		f.AtRisk = f.WaitSeconds < 0 || f.WaitSeconds > f.TargetSeconds || f.LatencySeconds > f.TargetSeconds
	}
	return f
}

// detectQueues runs the stuck, throughput and target detectors.
func (e *Engine) detectQueues(now time.Time, out map[string]*finding) {
	last := e.ticks[len(e.ticks)-1]
	names := make([]string, 0, len(last.queues))
	for q := range last.queues {
		names = append(names, q)
	}
	sort.Strings(names)
	for _, q := range names {
		st := last.queues[q]
		if st.Paused {
			continue
		}
		stuck := e.stuckFinding(now, st, last)
		if stuck != nil {
			out[stuck.a.Key] = stuck
		}
		if stuck == nil || !stuck.fire {
			if f := e.throughputFinding(now, st); f != nil {
				out[f.a.Key] = f
			}
		}
		if f := e.targetFinding(now, st); f != nil {
			out[f.a.Key] = f
		}
	}
}

// stuckFinding reports a queue whose backlog grew over the stall span
// while nothing finished.
func (e *Engine) stuckFinding(now time.Time, st QueueStat, last *tick) *finding {
	from := now.Add(-e.cfg.Stall)
	ref, ok := e.queueAt(st.Name, from)
	if !ok || st.Pending == 0 || e.ticks[0].at.After(from) {
		return nil
	}
	done := e.sumDone(st.Name, from)
	fire := done == 0 && st.Pending > ref.Pending
	hold := done == 0
	if !fire && !hold {
		return nil
	}
	since := e.ticks[0].at
	for _, t := range e.ticks {
		if t.done[st.Name] > 0 {
			since = t.at
		}
	}
	workers := sortedKeys(last.workers[st.Name])
	who := fmt.Sprintf("%d workers consume it", len(workers))
	if len(workers) == 0 {
		who = "no worker consumes it"
	}
	summary := fmt.Sprintf("queue %s: %d pending (%+d in the last %s), nothing processed since %s, %d active; %s",
		st.Name, st.Pending, st.Pending-ref.Pending, e.cfg.Stall, since.UTC().Format("15:04:05"), st.Active, who)
	return &finding{fire: fire, confirm: 1, a: Anomaly{
		Key: key(KindStuck, st.Name, "", ""), Kind: KindStuck, Queue: st.Name, Since: since,
		Summary: summary, Live: 0, Baseline: float64(st.Pending), Unit: "tasks/s", Workers: workers,
	}}
}

// throughputFinding reports a queue processing far below its baseline
// while a backlog waits and does not shrink.
func (e *Engine) throughputFinding(now time.Time, st QueueStat) *finding {
	b := e.state.Queues[st.Name]
	if b == nil || b.Ticks < e.warmTicks() || b.Rate < minDropRate {
		return nil
	}
	// The live rate is over the stall span (30 s), not the whole window,
	// so that a drop shows within it; the backlog must not have shrunk
	// over the window.
	from := now.Add(-e.cfg.Stall)
	if e.ticks[0].at.After(from) {
		return nil
	}
	ref, ok := e.queueAt(st.Name, e.ticks[0].at)
	span := e.cfg.Stall.Seconds()
	if !ok {
		return nil
	}
	live := e.sumDone(st.Name, from) / span
	// Still processing in the last two ticks: a queue that stopped is
	// the stuck detector's.
	moving := e.sumDone(st.Name, now.Add(-2*e.cfg.Interval)) > 0
	fire := moving && st.Pending >= minBacklog && st.Pending >= ref.Pending && live < dropRatio*b.Rate
	hold := st.Pending > 0 && live < 2*dropRatio*b.Rate
	if !fire && !hold {
		return nil
	}
	summary := fmt.Sprintf("queue %s: processing %.2f tasks/s over the last %s, baseline %.2f tasks/s, while %d tasks wait (%+d in %s)",
		st.Name, live, e.cfg.Stall, b.Rate, st.Pending, st.Pending-ref.Pending, now.Sub(e.ticks[0].at).Round(time.Second))
	return &finding{fire: fire, a: Anomaly{
		Key: key(KindThroughput, st.Name, "", ""), Kind: KindThroughput, Queue: st.Name, Since: from,
		Summary: summary, Live: live, Baseline: b.Rate, Unit: "tasks/s",
	}}
}

// targetFinding warns when a task enqueued now would start after the
// queue's target latency.
func (e *Engine) targetFinding(now time.Time, st QueueStat) *finding {
	target := e.cfg.Targets[st.Name]
	if target <= 0 {
		return nil
	}
	f := e.forecast(now, st)
	wait := f.WaitSeconds
	if wait < 0 {
		wait = math.Inf(1)
	}
	t := target.Seconds()
	fire := st.Pending > 0 && (wait > t || f.LatencySeconds > t)
	hold := st.Pending > 0 && (wait > 0.8*t || f.LatencySeconds > 0.8*t)
	if !fire && !hold {
		return nil
	}
	waitText := "would never start at the current rate (nothing is processed"
	if !math.IsInf(wait, 1) {
		waitText = "would start in ~" + round(time.Duration(wait*float64(time.Second))).String() + " (" + fmt.Sprintf("%.2f tasks/s", f.Rate)
	}
	summary := fmt.Sprintf("queue %s: a task enqueued now %s, %d pending), target %s; the oldest pending task has waited %s",
		st.Name, waitText, st.Pending, target, round(st.Latency))
	return &finding{fire: fire, a: Anomaly{
		Key: key(KindLatencyTarget, st.Name, "", ""), Kind: KindLatencyTarget, Queue: st.Name, Since: now,
		Summary: summary, Live: min(wait, 1e9), Baseline: t, Unit: "seconds",
	}}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
