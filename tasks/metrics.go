package tasks

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UnregisteredLabel is the task_type label of tasks whose type has no
// processor, so that anyone who can enqueue cannot grow the metric
// cardinality without bound.
const UnregisteredLabel = "(unregistered)"

// Metrics holds the per task type and queue Prometheus metrics of a worker.
type Metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	requeued  *prometheus.CounterVec
	deferred  *prometheus.CounterVec
	outcomes  *prometheus.CounterVec
	cache     sync.Map // seriesKey → *series
	observer  AttemptObserver
}

// AttemptObserver is told about every attempt Metrics counts, after the
// metrics: the worker's in-memory aggregates for the monitor's insight
// page use it. Sink is called once per task type label and queue and its
// result cached with the metric series.
type AttemptObserver interface {
	Sink(taskType, queue string) AttemptSink
}

// AttemptSink receives the finished attempts of one task type label and
// queue, on the task's goroutine: it must be cheap and must not block.
type AttemptSink interface {
	Finish(ctx context.Context, elapsed time.Duration, outcome string, err error)
}

// Observe makes m tell o about every attempt it counts. Call it before the
// first attempt.
func (m *Metrics) Observe(o AttemptObserver) { m.observer = o }

// NewMetrics creates the metrics and registers them with reg.
//
//	tuskq_tasks_processed_total{task_type,queue}  attempts finished, done or failed
//	tuskq_tasks_failed_total{task_type,queue}     attempts that returned an error
//	tuskq_tasks_retried_total{task_type,queue}    failed attempts that will be retried
//	tuskq_task_duration_seconds{task_type,queue}  attempt duration histogram
//	tuskq_tasks_in_flight{task_type,queue}        attempts running now
//	tuskq_tasks_requeued_total{task_type,queue}   attempts handed back to Redis by a shutdown
//	tuskq_tasks_deferred_total{task_type,queue,reason}   attempts deferred without using a retry (reason: see the Reason constants)
//	tuskq_tasks_outcomes_total{task_type,queue,outcome}  attempts by outcome (Outcome*)
//
// An attempt cancelled on request (outcome cancelled) or ended by its
// processor with asynq.SkipRetry (outcome skipped) is processed but not
// failed.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"task_type", "queue"}
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_processed_total", Help: "Task attempts finished, whatever their outcome.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_failed_total", Help: "Task attempts that failed: returned an error other than a cancellation or asynq.SkipRetry.",
		}, labels),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_retried_total", Help: "Failed task attempts that will be retried.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tuskq_task_duration_seconds",
			Help:    "Duration of task attempts.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 120},
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tuskq_tasks_in_flight", Help: "Task attempts running now.",
		}, labels),
		requeued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_requeued_total", Help: "Task attempts cut off by a worker shutdown and handed back to Redis.",
		}, labels),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_deferred_total", Help: "Task attempts deferred without using a retry, by reason: rate or concurrency (a fleet limit), snooze or rate_limited (the processor asked), not_failure (an error IsFailure does not count, such as a disabled plugin).",
		}, []string{"task_type", "queue", "reason"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_outcomes_total", Help: "Task attempts by outcome: success, retry, archived, skipped, cancelled, revoked, requeued or deferred.",
		}, []string{"task_type", "queue", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.processed, m.failed, m.retried, m.duration, m.inFlight, m.requeued, m.deferred, m.outcomes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware counts attempts. known reports whether a type has a processor;
// other types are counted under UnregisteredLabel. A nil known counts every
// type under its own name. It is Instrument with only Metrics set.
func (m *Metrics) Middleware(known func(taskType string) bool) Middleware {
	return Instrument(InstrumentOptions{Metrics: m, Known: known})
}

// seriesKey identifies the series of one task type label and queue.
type seriesKey struct{ typ, queue string }

// series caches the metric children of one task type label and queue, so
// that counting an attempt does not hash the label values again. The
// counters are created on first use, so a series appears only once it has
// something to count, exactly as with WithLabelValues on every attempt.
type series struct {
	typ, queue string
	inFlight   prometheus.Gauge
	duration   prometheus.Observer
	sink       AttemptSink // nil without an observer
	processed  lazyCounter
	failed     lazyCounter
	retried    lazyCounter
	requeued   lazyCounter
	deferred   [len(deferReasons)]lazyCounter
	outcomes   [len(outcomeNames)]lazyCounter
}

// deferReasons are the reason label values of tuskq_tasks_deferred_total.
var deferReasons = [...]string{ReasonNotFailure, ReasonRate, ReasonConcurrency, ReasonSnooze, ReasonRateLimited}

// deferIndex is the index of reason in deferReasons (0, not_failure, for
// an unknown one).
func deferIndex(reason string) int {
	for i, r := range deferReasons {
		if r == reason {
			return i
		}
	}
	return 0
}

// outcomeNames are the outcomes, in the order of series.outcomes.
var outcomeNames = [...]string{
	OutcomeSuccess, OutcomeRetry, OutcomeArchived, OutcomeSkipped, OutcomeCancelled, OutcomeRevoked, OutcomeRequeued, OutcomeDeferred,
}

// countOutcome counts an attempt in tuskq_tasks_outcomes_total.
func (s *series) countOutcome(m *Metrics, outcome string) {
	for i, name := range outcomeNames {
		if name == outcome {
			l := &s.outcomes[i]
			l.once.Do(func() { l.c = m.outcomes.WithLabelValues(s.typ, s.queue, name) })
			l.c.Inc()
			return
		}
	}
}

// lazyCounter is a counter child created on first use.
type lazyCounter struct {
	once sync.Once
	c    prometheus.Counter
}

func (l *lazyCounter) inc(vec *prometheus.CounterVec, s *series) {
	l.once.Do(func() { l.c = vec.WithLabelValues(s.typ, s.queue) })
	l.c.Inc()
}

// series returns the cached series of a task type label and queue. The
// labels are bounded: types without a processor share UnregisteredLabel.
func (m *Metrics) series(typ, queue string) *series {
	key := seriesKey{typ, queue}
	if s, ok := m.cache.Load(key); ok {
		return s.(*series)
	}
	s := &series{
		typ: typ, queue: queue,
		inFlight: m.inFlight.WithLabelValues(typ, queue),
		duration: m.duration.WithLabelValues(typ, queue),
	}
	if m.observer != nil {
		s.sink = m.observer.Sink(typ, queue)
	}
	actual, _ := m.cache.LoadOrStore(key, s)
	return actual.(*series)
}

// finish counts a finished attempt: its duration, and processed, failed,
// retried or requeued by outcome.
func (s *series) finish(m *Metrics, elapsed time.Duration, outcome string, err error) {
	s.duration.Observe(elapsed.Seconds())
	s.inFlight.Dec()
	s.countOutcome(m, outcome)
	switch outcome {
	case OutcomeSuccess, OutcomeCancelled, OutcomeSkipped:
		s.processed.inc(m.processed, s)
		return
	case OutcomeRequeued:
		s.requeued.inc(m.requeued, s)
		return
	case OutcomeDeferred:
		i := 0
		if d, ok := Deferral(err); ok {
			i = deferIndex(d.Reason)
		}
		c := &s.deferred[i]
		c.once.Do(func() { c.c = m.deferred.WithLabelValues(s.typ, s.queue, deferReasons[i]) })
		c.c.Inc()
		return
	case OutcomeRetry:
		s.retried.inc(m.retried, s)
	}
	s.processed.inc(m.processed, s)
	s.failed.inc(m.failed, s)
}
