package tasks

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
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
}

// NewMetrics creates the metrics and registers them with reg.
//
//	tuskq_tasks_processed_total{task_type,queue}  attempts finished, done or failed
//	tuskq_tasks_failed_total{task_type,queue}     attempts that returned an error
//	tuskq_tasks_retried_total{task_type,queue}    failed attempts that will be retried
//	tuskq_task_duration_seconds{task_type,queue}  attempt duration histogram
//	tuskq_tasks_in_flight{task_type,queue}        attempts running now
//	tuskq_tasks_requeued_total{task_type,queue}   attempts handed back to Redis by a shutdown
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"task_type", "queue"}
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_processed_total", Help: "Task attempts finished, whatever their outcome.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_tasks_failed_total", Help: "Task attempts that returned an error.",
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
	}
	for _, c := range []prometheus.Collector{m.processed, m.failed, m.retried, m.duration, m.inFlight, m.requeued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware counts attempts. known reports whether a type has a processor;
// other types are counted under UnregisteredLabel. A nil known counts every
// type under its own name.
func (m *Metrics) Middleware(known func(taskType string) bool) Middleware {
	return func(next Processor) Processor {
		return ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			typ := t.Type()
			if known != nil && !known(typ) {
				typ = UnregisteredLabel
			}
			queue, _ := asynq.GetQueueName(ctx)
			inFlight := m.inFlight.WithLabelValues(typ, queue)
			inFlight.Inc()
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			m.duration.WithLabelValues(typ, queue).Observe(time.Since(start).Seconds())
			inFlight.Dec()
			if err == nil {
				m.processed.WithLabelValues(typ, queue).Inc()
				return nil
			}
			switch Outcome(ctx, err) {
			case OutcomeRequeued:
				m.requeued.WithLabelValues(typ, queue).Inc()
				return err
			case OutcomeRetry:
				m.retried.WithLabelValues(typ, queue).Inc()
			}
			m.processed.WithLabelValues(typ, queue).Inc()
			m.failed.WithLabelValues(typ, queue).Inc()
			return err
		})
	}
}
