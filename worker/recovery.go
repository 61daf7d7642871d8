package worker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/tasks"
)

// leaseRetryDelay returns retry, except that a task whose lease expired
// (asynq.ErrLeaseExpired: its worker died or lost Redis, the task did not
// fail) comes back at once, without a backoff delay.
func leaseRetryDelay(retry asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return 0
		}
		if d, ok := tasks.Deferral(err); ok {
			return max(d.After, time.Second)
		}
		return retry(n, err, t)
	}
}

// leaseIsFailure returns isFailure (nil: every error is a failure), except
// that an expired lease is never one, so its recovery does not use up a
// retry.
func leaseIsFailure(isFailure func(error) bool) func(error) bool {
	return func(err error) bool {
		if errors.Is(err, asynq.ErrLeaseExpired) || errors.Is(err, tasks.ErrDeferred) {
			return false
		}
		if isFailure == nil {
			return err != nil
		}
		return isFailure(err)
	}
}

// recoveryMetrics are the orphan recovery's series.
type recoveryMetrics struct {
	orphaned  *prometheus.GaugeVec
	recovered *prometheus.CounterVec
}

func newRecoveryMetrics(reg prometheus.Registerer) (*recoveryMetrics, error) {
	m := &recoveryMetrics{
		orphaned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tuskq_orphaned_tasks",
			Help: "Active tasks whose lease expired (their worker died or lost Redis), per queue, at the worker's last check.",
		}, []string{"queue"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_orphaned_tasks_recovered_total",
			Help: "Orphaned tasks this worker handed back to their queue, without charging a retry.",
		}, []string{"queue"}),
	}
	for _, c := range []prometheus.Collector{m.orphaned, m.recovered} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// recoverOrphans checks the worker's queues for orphaned tasks every
// worker.orphan_check_interval, at once first (a worker restarted after a
// crash takes back what its predecessor held), until stop is closed. Every
// worker of a fleet runs it; the recovery of one task is one atomic script,
// so two workers never both hand back the same task.
func (w *Worker) recoverOrphans(rdb redis.UniversalClient, stop <-chan struct{}) {
	interval := w.cfg.Worker.OrphanCheckInterval
	queues := slices.Sorted(maps.Keys(w.cfg.Worker.Queues))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval+w.cfg.Redis.ReadTimeout)
		w.sweepOrphans(ctx, rdb, queues, time.Now())
		cancel()
		t.Reset(interval)
	}
}

// sweepOrphans counts the orphaned tasks of queues and hands back those
// whose lease expired more than worker.orphan_grace before now.
func (w *Worker) sweepOrphans(ctx context.Context, rdb redis.UniversalClient, queues []string, now time.Time) {
	counts, err := asynqrdb.CountOrphans(ctx, rdb, queues, now)
	if err != nil {
		w.logger.DebugContext(ctx, "orphaned task check failed", "error", err)
		return
	}
	cutoff := now.Add(-w.cfg.Worker.OrphanGrace)
	for _, q := range queues {
		w.recovery.orphaned.WithLabelValues(q).Set(float64(counts[q]))
		if counts[q] == 0 {
			continue
		}
		ids, err := asynqrdb.RecoverOrphans(ctx, rdb, q, cutoff)
		for _, id := range ids {
			w.logger.WarnContext(ctx, "orphaned task recovered: its lease expired, so its worker died or lost Redis; handed back to the queue without charging a retry",
				"task_id", id, "queue", q)
		}
		w.recovery.recovered.WithLabelValues(q).Add(float64(len(ids)))
		if err != nil {
			w.logger.WarnContext(ctx, "orphaned task recovery failed", "queue", q, "error", err)
		}
	}
}
