package insight

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// finding is one detector's verdict on one subject at one tick: fire (the
// strict condition that raises an anomaly) or only hold (the relaxed one
// that keeps a raised anomaly open).
type finding struct {
	a       Anomaly
	fire    bool
	confirm int // ticks of fire needed; 0 means Config.Confirm
}

// Thresholds of the detectors. They are deliberately strict: a false alarm
// costs more trust than a late one.
const (
	minZ          = 4.0 // binomial z-score a failure excess must reach
	holdZ         = 2.0 // and keeps while the anomaly stays open
	minFailures   = 5   // failures in the window before any failure alarm
	minDurSamples = 20  // attempts in the window before a duration alarm
	minDurRatio   = 2.0 // p95 live / baseline that is a duration shift
	minDurDelta   = 5 * time.Millisecond
	dropRatio     = 0.3 // live throughput / baseline that is a drop
	minDropRate   = 0.5 // tasks/s the baseline needs for a throughput alarm
	minBacklog    = 10  // pending tasks for a throughput alarm
	explainShare  = 0.7 // share of failures that makes a worker or version the explanation
)

// key builds Anomaly.Key.
func key(kind, queue, typ, subject string) string {
	return kind + "|" + queue + "|" + typ + "|" + subject
}

// warmTicks is how many ticks of data a baseline needs.
func (e *Engine) warmTicks() int {
	return max(3, int(e.cfg.Warmup/e.cfg.Interval)/2)
}

// zscore is the binomial z-score of f failures in n attempts against the
// failure probability p.
func zscore(f, n uint64, p float64) float64 {
	p = min(max(p, 0.002), 0.999)
	return (float64(f) - float64(n)*p) / math.Sqrt(float64(n)*p*(1-p))
}

func ratio(f, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(f) / float64(n)
}

// detect runs every detector on the window ending at now.
func (e *Engine) detect(now time.Time, ready bool) map[string]*finding {
	out := map[string]*finding{}
	if len(e.ticks) == 0 {
		return out
	}
	win, _ := e.window(now.Add(-e.cfg.Window))
	for k, d := range win {
		e.detectSeries(now, k, d, out)
	}
	e.detectQueues(now, out)
	return out
}

// detectSeries runs the failure and duration detectors of one series.
func (e *Engine) detectSeries(now time.Time, k SeriesKey, d *delta, out map[string]*finding) {
	b := e.state.Series[k.String()]
	explained := 0.0
	if f := e.versionFinding(k, d); f != nil {
		out[f.a.Key] = f
		if f.fire {
			explained = 1
		}
	}
	if explained == 0 {
		for _, f := range e.workerFindings(k, d) {
			out[f.a.Key] = f
		}
		explained = e.workerShare(k, d, out)
	}
	if b != nil && b.Ticks >= e.warmTicks() {
		if f := e.errorFinding(now, k, d, b); f != nil {
			if explained >= explainShare {
				f.fire = false // a worker or a version explains it
			}
			out[f.a.Key] = f
		}
	}
	if b != nil && b.DurTicks >= e.warmTicks() {
		if f := e.durationFinding(now, k, d, b); f != nil {
			out[f.a.Key] = f
		}
	}
}

// workerShare is the share of the series' failures made by workers whose
// outlier finding fires.
func (e *Engine) workerShare(k SeriesKey, d *delta, out map[string]*finding) float64 {
	if d.failures == 0 {
		return 0
	}
	var f uint64
	for w, p := range d.workers {
		if x := out[key(KindWorker, k.Queue, k.Type, w)]; x != nil && x.fire {
			f += p.f
		}
	}
	return ratio(f, d.failures)
}

// errorFinding compares the window's failure ratio with the baseline.
func (e *Engine) errorFinding(now time.Time, k SeriesKey, d *delta, b *Baseline) *finding {
	p0 := b.ErrorRate()
	margin := max(0.05, min(2*p0, (1-p0)/2))
	rate := ratio(d.failures, d.attempts)
	z := zscore(d.failures, d.attempts, p0)
	fire := d.attempts >= 2*minFailures && d.failures >= minFailures && rate >= p0+margin && z >= minZ
	hold := d.failures >= 2 && rate >= p0+margin/2 && z >= holdZ
	if !fire && !hold {
		return nil
	}
	since := now
	for _, t := range e.ticks {
		if x := t.series[k]; x != nil && x.failures > 0 && ratio(x.failures, x.attempts) >= p0+margin && t.at.After(now.Add(-e.cfg.Window)) {
			since = t.at.Add(-e.cfg.Interval)
			break
		}
	}
	failing, all := failingWorkers(d)
	errs := topErrors(d.errors, 3)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s on queue %s: failures %s over the last %s (%d of %d attempts), baseline %s, since %s",
		k.Type, k.Queue, pct(rate), e.cfg.Window, d.failures, d.attempts, pct(p0), since.UTC().Format("15:04:05"))
	if len(errs) > 0 {
		fmt.Fprintf(&sb, ", mostly `%s` (%d)", errs[0].Text, errs[0].Count)
	}
	fmt.Fprintf(&sb, ", %d of %d workers", len(failing), all)
	if v := failingVersion(d); v != "" {
		fmt.Fprintf(&sb, ", plugin version %s", v)
	}
	return &finding{fire: fire, a: Anomaly{
		Key: key(KindErrorRate, k.Queue, k.Type, ""), Kind: KindErrorRate, TaskType: k.Type, Queue: k.Queue,
		Since: since, Summary: sb.String(), Live: rate, Baseline: p0, Unit: "ratio",
		Errors: errs, Workers: failing, Examples: d.examples,
	}}
}

// failingWorkers returns the workers with failures, sorted, and the number
// of workers with attempts.
func failingWorkers(d *delta) ([]string, int) {
	var out []string
	for w, p := range d.workers {
		if p.f > 0 {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out, len(d.workers)
}

// failingVersion returns the only non-empty version with failures, if all
// failures are on it.
func failingVersion(d *delta) string {
	v := ""
	for ver, p := range d.versions {
		if p.f == 0 {
			continue
		}
		if ver == "" || v != "" {
			return ""
		}
		v = ver
	}
	return v
}

// workerFindings singles out workers failing where their peers succeed.
func (e *Engine) workerFindings(k SeriesKey, d *delta) []*finding {
	if len(d.workers) < 2 {
		return nil
	}
	var out []*finding
	for w, p := range d.workers {
		if p.n < minFailures || p.f < 2 {
			continue
		}
		pn, pf := d.attempts-p.n, d.failures-p.f
		if pn < 2*minFailures {
			continue
		}
		pw, pp := ratio(p.f, p.n), ratio(pf, pn)
		z := zscore(p.f, p.n, max(pp, 0.01))
		fire := p.f >= minFailures && pw >= 0.5 && pw >= 2*pp+0.2 && z >= minZ
		hold := pw >= pp+0.1 && z >= holdZ
		if !fire && !hold {
			continue
		}
		errs := workerErrors(d, w)
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s on queue %s: worker %s fails %s (%d of %d attempts) over the last %s where its %d peers fail %s (%d of %d)",
			k.Type, k.Queue, w, pct(pw), p.f, p.n, e.cfg.Window, len(d.workers)-1, pct(pp), pf, pn)
		if len(errs) > 0 {
			fmt.Fprintf(&sb, ", mostly `%s`", errs[0].Text)
		}
		out = append(out, &finding{fire: fire, a: Anomaly{
			Key: key(KindWorker, k.Queue, k.Type, w), Kind: KindWorker, TaskType: k.Type, Queue: k.Queue, Subject: w,
			Since: e.firstFailure(k, w), Summary: sb.String(), Live: pw, Baseline: pp, Unit: "ratio",
			Errors: errs, Workers: []string{w}, Examples: examplesOf(d, w),
		}})
	}
	return out
}

// workerErrors returns the window's top errors of worker w's examples, or
// of the series when the examples say nothing.
func workerErrors(d *delta, w string) []ErrorCount {
	m := map[string]uint64{}
	for _, x := range d.examples {
		if x.Worker == w && x.Error != "" {
			m[x.Error]++
		}
	}
	if len(m) == 0 {
		return topErrors(d.errors, 3)
	}
	return topErrors(m, 3)
}

func examplesOf(d *delta, w string) []Example {
	var out []Example
	for _, x := range d.examples {
		if x.Worker == w {
			out = append(out, x)
		}
	}
	return out
}

// firstFailure is the start of the first tick in the window where worker
// w failed on series k.
func (e *Engine) firstFailure(k SeriesKey, w string) time.Time {
	for _, t := range e.ticks {
		if d := t.series[k]; d != nil {
			if p := d.workers[w]; p != nil && p.f > 0 {
				return t.at.Add(-e.cfg.Interval)
			}
		}
	}
	return e.ticks[len(e.ticks)-1].at
}

// versionFinding compares the newest plugin version seen in the window
// with the older ones (a rolling deploy).
func (e *Engine) versionFinding(k SeriesKey, d *delta) *finding {
	if len(d.versions) < 2 {
		return nil
	}
	newest := ""
	for v := range d.versions {
		if v != "" && (newest == "" || compareVersions(v, newest) > 0) {
			newest = v
		}
	}
	nv := d.versions[newest]
	if nv == nil || nv.n < 2*minFailures {
		return nil
	}
	on, of := d.attempts-nv.n, d.failures-nv.f
	if on < 2*minFailures {
		return nil
	}
	pn, po := ratio(nv.f, nv.n), ratio(of, on)
	z := zscore(nv.f, nv.n, po)
	fire := nv.f >= minFailures && pn >= po+max(0.05, 2*po) && z >= minZ && ratio(nv.f, d.failures) >= explainShare
	hold := pn >= po+max(0.025, po) && z >= holdZ
	if !fire && !hold {
		return nil
	}
	var olds []string
	for v := range d.versions {
		if v != newest {
			olds = append(olds, cmpOr(v, "(compiled in)"))
		}
	}
	sort.Strings(olds)
	errs := topErrors(d.errors, 3)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s on queue %s: plugin version %s fails %s (%d of %d attempts) over the last %s where %s fails %s (%d of %d)",
		k.Type, k.Queue, newest, pct(pn), nv.f, nv.n, e.cfg.Window, strings.Join(olds, ", "), pct(po), of, on)
	if len(errs) > 0 {
		fmt.Fprintf(&sb, ", mostly `%s`", errs[0].Text)
	}
	return &finding{fire: fire, a: Anomaly{
		Key: key(KindVersion, k.Queue, k.Type, newest), Kind: KindVersion, TaskType: k.Type, Queue: k.Queue, Subject: newest,
		Since: e.ticks[0].at, Summary: sb.String(), Live: pn, Baseline: po, Unit: "ratio",
		Errors: errs, Examples: d.examples,
	}}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// compareVersions orders dotted versions numerically where both parts are
// numbers ("1.10.0" > "1.9.2"), by text otherwise.
func compareVersions(a, b string) int {
	as := strings.Split(strings.TrimPrefix(a, "v"), ".")
	bs := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		var x, y int
		_, ex := fmt.Sscanf(as[i], "%d", &x)
		_, ey := fmt.Sscanf(bs[i], "%d", &y)
		if ex == nil && ey == nil && x != y {
			if x < y {
				return -1
			}
			return 1
		}
		if c := strings.Compare(as[i], bs[i]); c != 0 && (ex != nil || ey != nil) {
			return c
		}
	}
	return len(as) - len(bs)
}

// durationFinding compares the window's p95 with the baseline's.
func (e *Engine) durationFinding(now time.Time, k SeriesKey, d *delta, b *Baseline) *finding {
	if d.attempts < minDurSamples {
		return nil
	}
	p95, _ := d.buckets.quantile(0.95)
	p50, _ := d.buckets.quantile(0.5)
	base := b.P95()
	thr := max(minDurRatio, math.Exp(5*b.DevP95))
	r := float64(p95) / float64(max(base, time.Microsecond))
	fire := r >= thr && p95-base >= minDurDelta
	hold := r >= 1+(thr-1)/2 && p95-base >= minDurDelta/2
	if !fire && !hold {
		return nil
	}
	since := now
	limit := time.Duration(float64(base) * thr)
	for _, t := range e.ticks {
		if x := t.series[k]; x != nil && t.at.After(now.Add(-e.cfg.Window)) {
			if q, ok := x.buckets.quantile(0.95); ok && q >= limit {
				since = t.at.Add(-e.cfg.Interval)
				break
			}
		}
	}
	summary := fmt.Sprintf("%s on queue %s: p95 duration %s over the last %s (%d attempts), baseline %s; p50 %s, baseline %s; since %s, on %d workers",
		k.Type, k.Queue, round(p95), e.cfg.Window, d.attempts, round(base), round(p50), round(b.P50()), since.UTC().Format("15:04:05"), len(d.workers))
	return &finding{fire: fire, a: Anomaly{
		Key: key(KindDuration, k.Queue, k.Type, ""), Kind: KindDuration, TaskType: k.Type, Queue: k.Queue,
		Since: since, Summary: summary, Live: p95.Seconds(), Baseline: base.Seconds(), Unit: "seconds",
	}}
}

// round shortens a duration for a sentence.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// pct formats a ratio as a percentage.
func pct(r float64) string {
	switch {
	case r == 0:
		return "0 %"
	case r < 0.01:
		return fmt.Sprintf("%.2f %%", 100*r)
	case r < 0.1:
		return fmt.Sprintf("%.1f %%", 100*r)
	default:
		return fmt.Sprintf("%.0f %%", 100*r)
	}
}
