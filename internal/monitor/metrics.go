package monitor

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/scheduler"
)

// Fleet metrics, computed from asynq's server heartbeats at each scrape.
var (
	descRedisUp = prometheus.NewDesc("tuskq_monitor_redis_up",
		"1 when Redis answered PING at this scrape, 0 otherwise.", nil, nil)
	descWorkers = prometheus.NewDesc("tuskq_fleet_workers",
		"Worker processes with a live heartbeat.", nil, nil)
	descConcurrency = prometheus.NewDesc("tuskq_fleet_concurrency",
		"Sum of the concurrency of the live worker processes: how many tasks the fleet can run at once.", nil, nil)
	descActive = prometheus.NewDesc("tuskq_fleet_active_tasks",
		"Tasks being processed by the live worker processes.", nil, nil)
	descQueueWorkers = prometheus.NewDesc("tuskq_fleet_queue_workers",
		"Live worker processes that serve the queue.", []string{"queue"}, nil)
	descQueueError = prometheus.NewDesc("asynq_queue_metrics_error",
		"Queue metrics could not be collected.", nil, nil)
)

// newMetricsHandler serves the monitor's registry: asynq's queue metrics
// (github.com/hibiken/asynq/x/metrics), the fleet gauges, the orphaned
// tasks per queue (counted at now()), Redis reachability, the failed-login
// counters and the Go and process metrics of the monitor itself. It returns
// the registry too, for the OTLP export of otel.metrics.
func newMetricsHandler(insp *asynq.Inspector, rdb redis.UniversalClient, pingTimeout time.Duration, now func() time.Time,
	logger *slog.Logger, extra ...prometheus.Collector) (http.Handler, prometheus.Gatherer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&queueCollector{insp: insp, inner: metrics.NewQueueMetricsCollector(insp)},
		&fleetCollector{insp: insp, rdb: rdb, pingTimeout: pingTimeout},
		&orphanCollector{insp: insp, rdb: rdb, timeout: pingTimeout, now: now},
		&scheduleCollector{store: scheduler.NewStore(rdb), timeout: pingTimeout, now: now},
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{logger},
		ErrorHandling: promhttp.ContinueOnError,
	}), reg
}

// queueCollector runs asynq's queue collector only when the queue list can
// be read, so that a Redis outage shows as a failed metric in the scrape
// instead of a line on the process's standard logger, which the asynq
// collector writes to. It describes nothing: it is an unchecked collector,
// whose Describe must not touch Redis.
type queueCollector struct {
	insp  *asynq.Inspector
	inner *metrics.QueueMetricsCollector
}

func (c *queueCollector) Describe(chan<- *prometheus.Desc) {}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if _, err := c.insp.Queues(); err != nil {
		ch <- prometheus.NewInvalidMetric(descQueueError, err)
		return
	}
	c.inner.Collect(ch)
}

// fleetCollector reports Redis reachability and the fleet gauges.
type fleetCollector struct {
	insp        *asynq.Inspector
	rdb         redis.UniversalClient
	pingTimeout time.Duration
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRedisUp, descWorkers, descConcurrency, descActive, descQueueWorkers} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.pingTimeout)
	defer cancel()
	up := 1.0
	if c.rdb.Ping(ctx).Err() != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descRedisUp, prometheus.GaugeValue, up)
	if up == 0 {
		ch <- prometheus.NewInvalidMetric(descWorkers, errors.New("redis unreachable"))
		return
	}
	servers, err := c.insp.Servers()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descWorkers, err)
		return
	}
	procs := workerProcesses(servers)
	var concurrency, active int
	perQueue := map[string]int{}
	for _, w := range procs {
		concurrency += w.Concurrency
		active += w.ActiveTasks
		for q := range w.Queues {
			perQueue[q]++
		}
	}
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(len(procs)))
	ch <- prometheus.MustNewConstMetric(descConcurrency, prometheus.GaugeValue, float64(concurrency))
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(active))
	for q, n := range perQueue {
		ch <- prometheus.MustNewConstMetric(descQueueWorkers, prometheus.GaugeValue, float64(n), q)
	}
}

// promLogger routes promhttp's errors into the monitor's log.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	msg := ""
	for i, x := range v {
		if i > 0 {
			msg += " "
		}
		if err, ok := x.(error); ok {
			msg += err.Error()
			continue
		}
		if s, ok := x.(string); ok {
			msg += s
		}
	}
	p.l.Warn("metrics scrape", "error", msg)
}

// Schedule metrics, read from the schedule store at each scrape.
var (
	descScheduleLastTick = prometheus.NewDesc("tuskq_schedule_last_tick_timestamp_seconds",
		"Unix time of the newest tick a task was enqueued for, per schedule (0 before the first).", []string{"schedule"}, nil)
	descScheduleMissed = prometheus.NewDesc("tuskq_schedule_ticks_missed_total",
		"Ticks the missed-tick policy dropped (no worker ran the scheduler, or Redis was down, past the tick's grace), per schedule.",
		[]string{"schedule"}, nil)
	descSchedulePaused = prometheus.NewDesc("tuskq_schedule_paused",
		"1 while the schedule is paused.", []string{"schedule"}, nil)
)

// scheduleCollector reports the last tick and the missed ticks of every
// schedule.
type scheduleCollector struct {
	store   *scheduler.Store
	timeout time.Duration
	now     func() time.Time
}

func (c *scheduleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descScheduleLastTick
	ch <- descScheduleMissed
	ch <- descSchedulePaused
}

func (c *scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	list, err := c.store.List(ctx, c.now())
	if err != nil && list == nil {
		ch <- prometheus.NewInvalidMetric(descScheduleLastTick, err)
		return
	}
	for _, e := range list {
		name := e.Schedule.Name
		var last float64
		if !e.Run.IsZero() {
			last = float64(e.Run.Unix())
		}
		paused := 0.0
		if e.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(descScheduleLastTick, prometheus.GaugeValue, last, name)
		ch <- prometheus.MustNewConstMetric(descScheduleMissed, prometheus.CounterValue, float64(e.Missed), name)
		ch <- prometheus.MustNewConstMetric(descSchedulePaused, prometheus.GaugeValue, paused, name)
	}
}
