package insight

import (
	"math"
	"sort"
	"time"
)

// ewma folds v into avg with weight max(alpha, 1/(n+1)): a plain mean over
// the first ticks, so an early value does not linger, then the EWMA.
func (e *Engine) ewma(avg, v float64, n int) float64 {
	a := max(e.alpha, 1/float64(n+1))
	return avg + a*(v-avg)
}

// learn folds the last tick into the baselines, except where an anomaly
// (firing or held) covers the value.
func (e *Engine) learn(t *tick, found map[string]*finding) {
	busy := func(kind, q, typ string) bool {
		for _, f := range found {
			if f.a.Kind == kind && f.a.Queue == q && f.a.TaskType == typ {
				return true
			}
		}
		if a := e.state.Active[key(kind, q, typ, "")]; a != nil {
			return true
		}
		return false
	}
	failing := map[SeriesKey]bool{}
	for _, f := range found {
		switch f.a.Kind {
		case KindErrorRate, KindWorker, KindVersion:
			failing[SeriesKey{f.a.TaskType, f.a.Queue}] = true
		}
	}
	win, _ := e.window(t.at.Add(-e.cfg.Window))
	for k, d := range t.series {
		b := e.state.Series[k.String()]
		if b == nil {
			b = &Baseline{}
			e.state.Series[k.String()] = b
		}
		if !failing[k] && !busy(KindErrorRate, k.Queue, k.Type) {
			b.Att = e.ewma(b.Att, float64(d.attempts), b.Ticks)
			b.Fail = e.ewma(b.Fail, float64(d.failures), b.Ticks)
			b.Ticks++
		}
		w := win[k]
		if w == nil || w.attempts < minDurSamples || busy(KindDuration, k.Queue, k.Type) {
			continue
		}
		p50, _ := w.buckets.quantile(0.5)
		p95, _ := w.buckets.quantile(0.95)
		l50, l95 := math.Log(max(p50.Seconds(), 1e-6)), math.Log(max(p95.Seconds(), 1e-6))
		if b.DurTicks == 0 {
			b.LogP50, b.LogP95, b.DevP95 = l50, l95, 0.1
		} else {
			b.DevP95 = e.ewma(b.DevP95, math.Abs(l95-b.LogP95), b.DurTicks)
			b.LogP50 = e.ewma(b.LogP50, l50, b.DurTicks)
			b.LogP95 = e.ewma(b.LogP95, l95, b.DurTicks)
		}
		b.DurTicks++
	}
	for q := range t.queues {
		if busy(KindStuck, q, "") || busy(KindThroughput, q, "") {
			continue
		}
		b := e.state.Queues[q]
		if b == nil {
			b = &QueueBaseline{}
			e.state.Queues[q] = b
		}
		b.Rate = e.ewma(b.Rate, t.done[q]/e.cfg.Interval.Seconds(), b.Ticks)
		b.Ticks++
	}
}

// track moves the anomalies through pending → active → resolved.
func (e *Engine) track(now time.Time, ready bool, found map[string]*finding) (raised, resolved []Anomaly) {
	for k, f := range found {
		a := e.state.Active[k]
		if a == nil {
			if !f.fire || !ready {
				continue
			}
			c := f.a
			a = &c
			e.state.Active[k] = a
		} else {
			fires, quiet, since, detected := a.Fires, a.Quiet, a.Since, a.Detected
			*a = f.a
			a.Fires, a.Quiet, a.Detected = fires, quiet, detected
			if !detected.IsZero() || since.Before(a.Since) {
				a.Since = since
			}
		}
		a.Quiet = 0
		if !a.Detected.IsZero() {
			e.updateTimeline(*a)
			continue
		}
		if !f.fire {
			a.Fires = 0
			continue
		}
		a.Fires++
		confirm := f.confirm
		if confirm == 0 {
			confirm = e.cfg.Confirm
		}
		if a.Fires >= confirm && ready {
			a.Detected = now
			raised = append(raised, *a)
			e.state.Timeline = append([]Anomaly{*a}, e.state.Timeline...)
			if len(e.state.Timeline) > timelineLen {
				e.state.Timeline = e.state.Timeline[:timelineLen]
			}
		}
	}
	clearTicks := max(1, int(e.cfg.Clear/e.cfg.Interval))
	for k, a := range e.state.Active {
		if found[k] != nil {
			continue
		}
		if a.Detected.IsZero() {
			delete(e.state.Active, k)
			continue
		}
		a.Quiet++
		if a.Quiet >= clearTicks {
			a.Resolved = now
			e.updateTimeline(*a)
			resolved = append(resolved, *a)
			delete(e.state.Active, k)
		}
	}
	sortAnomalies(raised)
	sortAnomalies(resolved)
	return raised, resolved
}

// updateTimeline replaces the timeline entry of a.
func (e *Engine) updateTimeline(a Anomaly) {
	for i := range e.state.Timeline {
		t := &e.state.Timeline[i]
		if t.Key == a.Key && t.Detected.Equal(a.Detected) {
			*t = a
			return
		}
	}
}

func sortAnomalies(as []Anomaly) {
	sort.Slice(as, func(i, j int) bool {
		if !as[i].Detected.Equal(as[j].Detected) {
			return as[i].Detected.After(as[j].Detected)
		}
		return as[i].Key < as[j].Key
	})
}
