package insight

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// ErrBadConfig is matched by the errors of Config.Validate.
var ErrBadConfig = errors.New("insight: invalid configuration")

// Defaults of Config.
const (
	DefaultInterval = 5 * time.Second
	DefaultWindow   = time.Minute
	DefaultStall    = 30 * time.Second
	DefaultWarmup   = 10 * time.Minute
	DefaultHalfLife = 30 * time.Minute
	DefaultClear    = 2 * time.Minute
	DefaultConfirm  = 2
)

// Config tunes the engine. The zero value means the defaults.
type Config struct {
	// Interval is the time between ticks (default 5s).
	Interval time.Duration
	// Window is the span of the live values compared with the baselines
	// (default 1m).
	Window time.Duration
	// Stall is how long a queue must process nothing while its backlog
	// grows to be reported stuck (default 30s).
	Stall time.Duration
	// Warmup is how long the engine learns before it reports anything,
	// and how much data a series' baseline needs before its own
	// anomalies are reported (default 10m).
	Warmup time.Duration
	// HalfLife is the half-life of the baselines' EWMAs (default 30m).
	HalfLife time.Duration
	// Clear is how long an anomaly's condition must stay below its
	// relaxed threshold before it is resolved (default 2m): the
	// hysteresis that keeps a flapping condition one anomaly.
	Clear time.Duration
	// Confirm is how many consecutive ticks must fire before an anomaly
	// is raised (default 2).
	Confirm int
	// Targets are the per-queue target latencies: a task enqueued now
	// should start within it.
	Targets map[string]time.Duration
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, DefaultInterval)
	def(&c.Window, DefaultWindow)
	def(&c.Stall, DefaultStall)
	def(&c.Warmup, DefaultWarmup)
	def(&c.HalfLife, DefaultHalfLife)
	def(&c.Clear, DefaultClear)
	if c.Confirm <= 0 {
		c.Confirm = DefaultConfirm
	}
	return c
}

// Validate checks a filled Config.
func (c Config) Validate() error {
	if c.Window < 2*c.Interval {
		return fmt.Errorf("%w: the window %s must hold at least two intervals of %s", ErrBadConfig, c.Window, c.Interval)
	}
	if c.Stall < c.Interval || c.Stall > c.Window {
		return fmt.Errorf("%w: the stall span %s must lie between the interval %s and the window %s", ErrBadConfig, c.Stall, c.Interval, c.Window)
	}
	for q, d := range c.Targets {
		if d <= 0 {
			return fmt.Errorf("%w: the target latency of queue %q is %s; use a positive duration such as 5m", ErrBadConfig, q, d)
		}
	}
	return nil
}

// Engine turns worker snapshots and queue sizes into live values,
// baselines, anomalies and forecasts. It is not safe for concurrent use;
// it holds no clock: Tick is given the time.
type Engine struct {
	cfg   Config
	alpha float64 // EWMA weight of one tick
	state *State
	prev  map[string]*WorkerSnapshot
	ticks []*tick // oldest first, covering at least Window
	spark map[SeriesKey]*sparkline
	qprev map[string]QueueStat
}

// New returns an engine with cfg (defaults filled) and state (nil: a new
// one).
func New(cfg Config, state *State) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if state == nil {
		state = NewState()
	}
	state.fill()
	return &Engine{
		cfg:   cfg,
		alpha: 1 - math.Pow(0.5, cfg.Interval.Seconds()/cfg.HalfLife.Seconds()),
		state: state,
		prev:  map[string]*WorkerSnapshot{},
		spark: map[SeriesKey]*sparkline{},
		qprev: map[string]QueueStat{},
	}, nil
}

// Config returns the engine's filled configuration.
func (e *Engine) Config() Config { return e.cfg }

// State returns the engine's state (owned by the engine; encode it before
// the next Tick).
func (e *Engine) State() *State { return e.state }

// SetState replaces the state, as after another replica updated it.
func (e *Engine) SetState(s *State) {
	if s == nil {
		s = NewState()
	}
	s.fill()
	e.state = s
	// The window and the previous snapshots belong to the old state.
	e.prev = map[string]*WorkerSnapshot{}
	e.qprev = map[string]QueueStat{}
	e.ticks = nil
}

// tick is the data of one interval.
type tick struct {
	at     time.Time
	series map[SeriesKey]*delta
	queues map[string]QueueStat
	// done is the number of tasks finished per queue in the interval:
	// the larger of the workers' attempts and asynq's counter.
	done map[string]float64
	// workers is, per queue, the set of workers consuming it.
	workers map[string]map[string]bool
}

// delta is what one series did in one interval (or a window, summed).
type delta struct {
	attempts, failures, retries uint64
	buckets                     buckets
	workers                     map[string]*pair
	versions                    map[string]*pair
	errors                      map[string]uint64
	examples                    []Example
}

type pair struct{ n, f uint64 }

func newDelta() *delta {
	return &delta{workers: map[string]*pair{}, versions: map[string]*pair{}, errors: map[string]uint64{}}
}

// maxExamples bounds the examples kept per series and window.
const maxExamples = 5

// add folds o into d.
func (d *delta) add(o *delta) {
	d.attempts += o.attempts
	d.failures += o.failures
	d.retries += o.retries
	for i, c := range o.buckets {
		d.buckets[i] += c
	}
	for w, p := range o.workers {
		addPair(d.workers, w, p.n, p.f)
	}
	for v, p := range o.versions {
		addPair(d.versions, v, p.n, p.f)
	}
	for t, c := range o.errors {
		d.errors[t] += c
	}
	for _, x := range o.examples {
		if len(d.examples) < maxExamples {
			d.examples = append(d.examples, x)
		}
	}
}

func addPair(m map[string]*pair, k string, n, f uint64) {
	p := m[k]
	if p == nil {
		p = &pair{}
		m[k] = p
	}
	p.n += n
	p.f += f
}

// Tick folds in the snapshots of every live worker and the queue sizes
// at now, updates baselines and anomalies, and returns the report.
// Snapshots older than three intervals are ignored (their worker is gone).
func (e *Engine) Tick(now time.Time, snaps []WorkerSnapshot, queues []QueueStat) *Report {
	if e.state.Started.IsZero() {
		e.state.Started = now
	}
	t := e.collect(now, snaps, queues)
	e.ticks = append(e.ticks, t)
	// Keep the ticks inside the window (and one before it, the
	// reference for queue growth).
	for len(e.ticks) > 2 && !e.ticks[1].at.After(now.Add(-e.cfg.Window)) {
		e.ticks = e.ticks[1:]
	}
	ready := now.Sub(e.state.Started) >= e.cfg.Warmup && e.windowFull(now)
	findings := e.detect(now, ready)
	e.learn(t, findings)
	raised, resolved := e.track(now, ready, findings)
	r := e.report(now, ready)
	r.Raised, r.Resolved = raised, resolved
	return r
}

// windowFull reports whether the ticks held cover the window, so that
// live values are not computed from a part of it (after a restart).
func (e *Engine) windowFull(now time.Time) bool {
	return len(e.ticks) > 0 && !e.ticks[0].at.After(now.Add(-e.cfg.Window+e.cfg.Interval/2))
}

// collect turns the snapshots into the interval's deltas.
func (e *Engine) collect(now time.Time, snaps []WorkerSnapshot, queues []QueueStat) *tick {
	t := &tick{at: now, series: map[SeriesKey]*delta{}, queues: map[string]QueueStat{},
		done: map[string]float64{}, workers: map[string]map[string]bool{}}
	seen := map[string]bool{}
	stale := now.Add(-3 * e.cfg.Interval)
	for i := range snaps {
		s := &snaps[i]
		if s.At.Before(stale) {
			continue
		}
		seen[s.Worker] = true
		for _, q := range s.Queues {
			if t.workers[q] == nil {
				t.workers[q] = map[string]bool{}
			}
			t.workers[q][s.Worker] = true
		}
		prev := e.prev[s.Worker]
		e.prev[s.Worker] = s
		if prev == nil {
			// First sight: its counts so far are history, not this interval.
			continue
		}
		if !prev.Started.Equal(s.Started) {
			prev = &WorkerSnapshot{} // restarted: everything is new
		}
		byKey := map[[3]string]*SeriesSnapshot{}
		for j := range prev.Series {
			p := &prev.Series[j]
			byKey[[3]string{p.Type, p.Queue, p.Version}] = p
		}
		for j := range s.Series {
			cur := &s.Series[j]
			p := byKey[[3]string{cur.Type, cur.Queue, cur.Version}]
			e.addSeries(t, s.Worker, cur, p)
		}
	}
	for w := range e.prev {
		if !seen[w] {
			delete(e.prev, w)
		}
	}
	for _, q := range queues {
		t.queues[q.Name] = q
		if p, ok := e.qprev[q.Name]; ok && q.Done >= p.Done {
			t.done[q.Name] = max(t.done[q.Name], float64(q.Done-p.Done))
		}
		e.qprev[q.Name] = q
	}
	return t
}

// addSeries adds the difference cur - prev of one worker's series.
func (e *Engine) addSeries(t *tick, worker string, cur, prev *SeriesSnapshot) {
	var pn, pf, pr uint64
	if prev != nil {
		pn, pf, pr = prev.Attempts, prev.Failures, prev.Retries
	}
	if cur.Attempts < pn || cur.Failures < pf {
		prev, pn, pf, pr = nil, 0, 0, 0 // counts went back: a new series
	}
	n, f := cur.Attempts-pn, cur.Failures-pf
	if n == 0 {
		return
	}
	key := SeriesKey{cur.Type, cur.Queue}
	d := t.series[key]
	if d == nil {
		d = newDelta()
		t.series[key] = d
	}
	d.attempts += n
	d.failures += f
	if cur.Retries >= pr {
		d.retries += cur.Retries - pr
	}
	d.buckets.addDelta(cur, prev)
	addPair(d.workers, worker, n, f)
	addPair(d.versions, cur.Version, n, f)
	prevErr := map[string]uint64{}
	if prev != nil {
		for _, ec := range prev.Errors {
			prevErr[ec.Text] = ec.Count
		}
	}
	for _, ec := range cur.Errors {
		if ec.Count > prevErr[ec.Text] {
			d.errors[ec.Text] += ec.Count - prevErr[ec.Text]
		}
	}
	var last time.Time
	if prev != nil && len(prev.Recent) > 0 {
		last = prev.Recent[len(prev.Recent)-1].At
	}
	for _, x := range cur.Recent {
		if x.At.After(last) && len(d.examples) < maxExamples {
			x.Worker = worker
			d.examples = append(d.examples, x)
		}
	}
	t.done[cur.Queue] += float64(n)
}

// window sums the ticks after from.
func (e *Engine) window(from time.Time) (map[SeriesKey]*delta, map[string]float64) {
	series := map[SeriesKey]*delta{}
	done := map[string]float64{}
	for _, t := range e.ticks {
		if !t.at.After(from) {
			continue
		}
		for k, d := range t.series {
			w := series[k]
			if w == nil {
				w = newDelta()
				series[k] = w
			}
			w.add(d)
		}
		for q, n := range t.done {
			done[q] += n
		}
	}
	return series, done
}

// queueAt returns the queue's stat at the last tick at or before at.
func (e *Engine) queueAt(q string, at time.Time) (QueueStat, bool) {
	var st QueueStat
	ok := false
	for _, t := range e.ticks {
		if t.at.After(at) {
			break
		}
		if s, has := t.queues[q]; has {
			st, ok = s, true
		}
	}
	return st, ok
}

// topErrors returns the n most frequent error texts, most frequent first.
func topErrors(m map[string]uint64, n int) []ErrorCount {
	out := make([]ErrorCount, 0, len(m))
	for t, c := range m {
		out = append(out, ErrorCount{Text: t, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Text < out[j].Text
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
