package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/insight"
)

// Paths of the Insight page and its JSON.
const (
	// PathInsight is the Insight page: anomalies, forecasts, baselines.
	PathInsight = "/insight"
	// PathInsightAPI is the latest insight.Report as JSON.
	PathInsightAPI = "/api/v1/insight"
)

// newInsightRunner builds the engine's runner from opts, and the webhook
// notifier when monitor.insight.webhook is set; nil when
// monitor.insight.enabled is off.
func newInsightRunner(rdb redis.UniversalClient, opts Options, pub *events.Publisher) (*insight.Runner, *insight.Notifier, error) {
	if !opts.Insight.Enabled {
		return nil, nil, nil
	}
	observers := append([]insight.Observer{anomalyEvents(pub)}, opts.InsightObservers...)
	var notifier *insight.Notifier
	if opts.Insight.Webhook != "" {
		n, err := insight.NewNotifier(insight.NotifierOptions{
			URL: opts.Insight.Webhook, Cooldown: opts.Insight.WebhookCooldown,
			AllowPrivate: opts.Insight.WebhookAllowPrivate, Logger: opts.Logger, Now: opts.Now,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("monitor: %w", err)
		}
		notifier = n
		observers = append(observers, n.Observe)
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	owner := host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
	cfg := opts.InsightEngine
	cfg.Targets = opts.Insight.TargetLatencies()
	r, err := insight.NewRunner(insight.NewStore(rdb), insight.RunnerOptions{
		Config:    cfg,
		Owner:     owner,
		Queues:    func(ctx context.Context) ([]insight.QueueStat, error) { return queueStats(ctx, rdb, opts.Now()) },
		Now:       opts.Now,
		Logger:    opts.Logger,
		Observers: observers,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("monitor: %w", err)
	}
	return r, notifier, nil
}

// anomalyEvents returns the observer that writes each anomaly raised or
// resolved to the live event log (GET /v1/events, enqueue watch) of its
// queue: kind anomaly.raised or anomaly.resolved, state the anomaly's
// kind, message its explanation, trace_id its first example's. Like every
// event it is written only while someone listens (events.publish: auto),
// and never blocks the engine's tick.
func anomalyEvents(pub *events.Publisher) insight.Observer {
	return func(ctx context.Context, a insight.Anomaly, resolved bool) {
		ev := events.Event{Kind: events.KindAnomalyRaised, Queue: a.Queue, TaskType: a.TaskType, State: a.Kind, Message: a.Summary}
		if resolved {
			ev.Kind = events.KindAnomalyResolved
		}
		if len(a.Examples) > 0 {
			ev.TraceID = a.Examples[0].TraceID
		}
		// Best effort: the Insight page and /metrics carry the anomaly
		// whatever becomes of its event.
		_ = pub.PublishAsync(context.WithoutCancel(ctx), ev)
	}
}

// queueStats reads every asynq queue's sizes.
func queueStats(ctx context.Context, rdb redis.UniversalClient, now time.Time) ([]insight.QueueStat, error) {
	qs, err := asynqrdb.Queues(ctx, rdb)
	if err != nil {
		return nil, err
	}
	sizes, err := asynqrdb.QueueSizes(ctx, rdb, qs)
	if err != nil {
		return nil, err
	}
	out := make([]insight.QueueStat, len(sizes))
	for i, s := range sizes {
		out[i] = insight.QueueStat{Name: s.Queue, Pending: int(s.Pending), Active: int(s.Active),
			Scheduled: int(s.Scheduled), Retry: int(s.Retry), Done: int(s.Processed), Paused: s.Paused}
		if !s.OldestPending.IsZero() {
			out[i].Latency = max(0, now.Sub(s.OldestPending))
		}
	}
	return out, nil
}

// insightReport returns the latest report, an empty one before the first
// tick or with the engine off.
func (h *Handler) insightReport() *insight.Report {
	if h.insight != nil {
		if r := h.insight.Report(); r != nil {
			return r
		}
	}
	return &insight.Report{At: h.now(), Active: []insight.Anomaly{}, Timeline: []insight.Anomaly{}, Forecasts: []insight.Forecast{}}
}

// insightAPI serves the latest report as JSON.
func (h *Handler) insightAPI(w http.ResponseWriter, r *http.Request) {
	if h.insight == nil {
		http.Error(w, "monitor: insight is off (monitor.insight.enabled: false)\n", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(h.insightReport()); err != nil {
		h.logger.WarnContext(r.Context(), "writing the insight report", "error", err)
	}
}

// Metrics of the insight engine, from the latest report at each scrape.
var (
	descAnomaly = prometheus.NewDesc("tuskq_anomaly_active",
		"1 for each anomaly active now, by kind (error_rate, duration_shift, throughput_drop, stuck_queue, worker_outlier, version_regression, latency_target), task type (empty for a queue anomaly) and queue.",
		[]string{"kind", "task_type", "queue"}, nil)
	descDrain = prometheus.NewDesc("tuskq_queue_drain_forecast_seconds",
		"Forecast time until the queue's backlog is gone at the current rates: 0 with no backlog, -1 when it does not shrink.",
		[]string{"queue"}, nil)
	descWait = prometheus.NewDesc("tuskq_queue_wait_forecast_seconds",
		"Forecast wait before a task enqueued now starts: pending tasks over the processing rate; -1 when nothing is processed while tasks wait.",
		[]string{"queue"}, nil)
	descAtRisk = prometheus.NewDesc("tuskq_queue_target_at_risk",
		"1 when the queue's forecast wait or its oldest pending task exceeds its target latency (monitor.insight.targets).",
		[]string{"queue"}, nil)
	descInsightReady = prometheus.NewDesc("tuskq_insight_ready",
		"1 once the insight engine's warm-up is over and anomalies are reported.", nil, nil)
)

// insightCollector exports the latest report.
type insightCollector struct{ r *insight.Runner }

func (c *insightCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAnomaly, descDrain, descWait, descAtRisk, descInsightReady} {
		ch <- d
	}
}

func (c *insightCollector) Collect(ch chan<- prometheus.Metric) {
	rep := c.r.Report()
	if rep == nil {
		return
	}
	ready := 0.0
	if rep.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descInsightReady, prometheus.GaugeValue, ready)
	seen := map[[3]string]bool{}
	for _, a := range rep.Active {
		k := [3]string{a.Kind, a.TaskType, a.Queue}
		if seen[k] {
			continue // several workers or versions of one type: one series
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(descAnomaly, prometheus.GaugeValue, 1, a.Kind, a.TaskType, a.Queue)
	}
	for _, f := range rep.Forecasts {
		ch <- prometheus.MustNewConstMetric(descDrain, prometheus.GaugeValue, f.DrainSeconds, f.Queue)
		ch <- prometheus.MustNewConstMetric(descWait, prometheus.GaugeValue, f.WaitSeconds, f.Queue)
		risk := 0.0
		if f.AtRisk {
			risk = 1
		}
		ch <- prometheus.MustNewConstMetric(descAtRisk, prometheus.GaugeValue, risk, f.Queue)
	}
}
