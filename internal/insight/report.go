package insight

import (
	"math"
	"sort"
	"time"
)

// Report is the engine's output at one tick: what the page, the JSON
// endpoint, the metrics and the notifier show.
type Report struct {
	// At is the tick's time.
	At time.Time `json:"at"`
	// Ready is false during the warm-up: nothing is reported before.
	Ready bool `json:"ready"`
	// WarmupLeft is how long the warm-up still lasts.
	WarmupLeft Seconds `json:"warmup_left_seconds"`
	// Active are the anomalies raised and not resolved, newest first.
	Active []Anomaly `json:"active"`
	// Timeline holds the recent anomalies, newest first.
	Timeline []Anomaly `json:"timeline"`
	// Raised and Resolved are the anomalies raised and resolved at this
	// tick (for the notifier and the event hook).
	Raised   []Anomaly `json:"raised,omitempty"`
	Resolved []Anomaly `json:"resolved,omitempty"`
	// Forecasts are the queues' outlooks, by queue name.
	Forecasts []Forecast `json:"forecasts"`
	// Series are the live values and baselines of the busiest series and
	// of those with an anomaly.
	Series []SeriesView `json:"series"`
}

// Seconds is a duration in seconds in JSON.
type Seconds float64

// SeriesView is one series' live values against its baseline, with the
// recent history for a sparkline.
type SeriesView struct {
	Type  string `json:"type"`
	Queue string `json:"queue"`
	// Rate is attempts per second over the window.
	Rate float64 `json:"rate"`
	// ErrorRate and BaseErrorRate are the live and baseline failure ratios.
	ErrorRate     float64 `json:"error_rate"`
	BaseErrorRate float64 `json:"base_error_rate"`
	// P95 and BaseP95 are the live and baseline p95 durations, seconds.
	P95     float64 `json:"p95_seconds"`
	BaseP95 float64 `json:"base_p95_seconds"`
	// Learning reports a baseline still in its warm-up.
	Learning bool `json:"learning,omitempty"`
	// History are the last points, oldest first.
	History []Point `json:"history,omitempty"`
}

// Point is one tick of a series' history.
type Point struct {
	At            time.Time `json:"at"`
	ErrorRate     float64   `json:"error_rate"`
	BaseErrorRate float64   `json:"base_error_rate"`
	P95           float64   `json:"p95_seconds"`
	BaseP95       float64   `json:"base_p95_seconds"`
}

// sparkline is a bounded history.
type sparkline struct{ points []Point }

// historyLen bounds a sparkline; maxSeriesViews bounds Report.Series.
const (
	historyLen     = 120
	maxSeriesViews = 20
	// reportPoints bounds a series' history in the report (which every
	// replica reads from Redis at each tick): the ten minutes of history
	// are thinned to this many points.
	reportPoints = 40
)

// report builds the tick's report.
func (e *Engine) report(now time.Time, ready bool) *Report {
	// The report is read by other goroutines while the engine ticks on:
	// it shares nothing the engine writes (anomalies' slices are replaced,
	// never written in place).
	r := &Report{At: now, Ready: ready, Active: []Anomaly{}, Timeline: append([]Anomaly{}, e.state.Timeline...), Forecasts: []Forecast{}}
	if left := e.state.Started.Add(e.cfg.Warmup).Sub(now); left > 0 {
		r.WarmupLeft = Seconds(left.Seconds())
	}
	flagged := map[string]bool{}
	for _, a := range e.state.Active {
		if a.IsActive() {
			r.Active = append(r.Active, *a)
			if a.TaskType != "" {
				flagged[SeriesKey{a.TaskType, a.Queue}.String()] = true
			}
		}
	}
	sortAnomalies(r.Active)
	if len(e.ticks) == 0 {
		return r
	}
	last := e.ticks[len(e.ticks)-1]
	for _, st := range last.queues {
		r.Forecasts = append(r.Forecasts, e.forecast(now, st))
	}
	sort.Slice(r.Forecasts, func(i, j int) bool { return r.Forecasts[i].Queue < r.Forecasts[j].Queue })

	win, _ := e.window(now.Add(-e.cfg.Window))
	span := now.Sub(e.ticks[0].at).Seconds()
	views := make([]SeriesView, 0, len(win))
	for k, d := range win {
		b := e.state.Series[k.String()]
		v := SeriesView{Type: k.Type, Queue: k.Queue, ErrorRate: ratio(d.failures, d.attempts),
			BaseErrorRate: b.ErrorRate(), Learning: b == nil || b.Ticks < e.warmTicks()}
		if span > 0 {
			v.Rate = float64(d.attempts) / span
		}
		if p, ok := d.buckets.quantile(0.95); ok {
			v.P95 = p.Seconds()
		}
		if b != nil && b.DurTicks > 0 {
			v.BaseP95 = b.P95().Seconds()
		}
		sp := e.spark[k]
		if sp == nil {
			sp = &sparkline{}
			e.spark[k] = sp
		}
		sp.points = append(sp.points, Point{At: now, ErrorRate: v.ErrorRate, BaseErrorRate: v.BaseErrorRate, P95: v.P95, BaseP95: v.BaseP95})
		if len(sp.points) > historyLen {
			sp.points = sp.points[len(sp.points)-historyLen:]
		}
		views = append(views, v)
	}
	for k := range e.spark {
		if win[k] == nil {
			delete(e.spark, k)
		}
	}
	sort.Slice(views, func(i, j int) bool {
		fi, fj := flagged[SeriesKey{views[i].Type, views[i].Queue}.String()], flagged[SeriesKey{views[j].Type, views[j].Queue}.String()]
		if fi != fj {
			return fi
		}
		if views[i].Rate != views[j].Rate {
			return views[i].Rate > views[j].Rate
		}
		return views[i].Queue+"/"+views[i].Type < views[j].Queue+"/"+views[j].Type
	})
	if len(views) > maxSeriesViews {
		views = views[:maxSeriesViews]
	}
	for i := range views {
		views[i].History = thin(e.spark[SeriesKey{views[i].Type, views[i].Queue}].points, reportPoints)
		if math.IsNaN(views[i].P95) {
			views[i].P95 = 0
		}
	}
	r.Series = views
	return r
}

// thin returns at most n of ps, evenly spaced, the newest always kept.
func thin(ps []Point, n int) []Point {
	if len(ps) <= n {
		return append([]Point(nil), ps...)
	}
	out := make([]Point, 0, n)
	for i := range n {
		out = append(out, ps[(len(ps)-1)-(n-1-i)*(len(ps)-1)/(n-1)])
	}
	return out
}
