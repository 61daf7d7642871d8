package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/waitgroup"
)

// completionKey is the Redis key of a task's completion record. Its hash
// tag is the queue's, as in asynq's own keys ("asynq:{<queue>}:…"), so in
// Redis Cluster it lives on the node of its queue.
func completionKey(queue, id string) string { return "tuskq:{" + queue + "}:done:" + id }

// completionRecords implements worker.completion_record: after a handler
// returns nil it records the task as completed, and a task that comes back
// with such a record is not run again.
//
// The case it covers: the handler completed, but Redis was unreachable when
// asynq marked the task done, and stayed so until the task's lease expired;
// the task is then still active in Redis and is recovered as an orphan,
// although its work was done. The record is written when the handler
// returns; when Redis is away it is written again in the background until
// Redis answers, which happens long before the recovery (a lease and a
// grace after the outage). A record is lost only when the worker dies
// before Redis comes back.
type completionRecords struct {
	rdb     redis.UniversalClient
	ttl     time.Duration
	logger  *slog.Logger
	skipped *prometheus.CounterVec
	// label is the metrics label of a task type (tasks.UnregisteredLabel
	// for a type without a processor).
	label func(taskType string) string

	// pending tracks the background writes, awaited (for a bounded time)
	// at shutdown.
	pending sync.WaitGroup
	stop    chan struct{}
}

// completionWriteTimeout bounds the write made when the handler returns.
const completionWriteTimeout = time.Second

func newCompletionMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tuskq_redeliveries_skipped_total",
		Help: "Tasks delivered again after their handler had completed, skipped thanks to their completion record.",
	}, []string{"task_type", "queue"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// wrap returns next behind the completion check.
func (c *completionRecords) wrap(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		key := completionKey(queue, id)
		// A failed check runs the task: Redis answered the fetch a moment
		// ago, and running twice is the lesser harm than not running.
		if n, err := c.rdb.Exists(ctx, key).Result(); err == nil && n > 0 {
			c.skipped.WithLabelValues(c.label(t.Type()), queue).Inc()
			c.logger.InfoContext(ctx, "task skipped: its handler already completed it (completion record); it was delivered again after Redis missed its completion",
				"task_id", id, "task_type", t.Type(), "queue", queue)
			return nil
		}
		if err := next.ProcessTask(ctx, t); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completionWriteTimeout)
		err := c.rdb.Set(wctx, key, "1", c.ttl).Err()
		cancel()
		if err != nil {
			c.pending.Add(1)
			go c.retryWrite(key, id, queue)
		}
		return nil
	})
}

// retryWrite writes a completion record until Redis takes it, for at most
// half its lifetime or until the worker shuts down (see shutdown).
func (c *completionRecords) retryWrite(key, id, queue string) {
	defer c.pending.Done()
	until := time.Now().Add(c.ttl / 2)
	backoff := 100 * time.Millisecond
	t := time.NewTimer(backoff)
	defer t.Stop()
	for time.Now().Before(until) {
		select {
		case <-c.stop:
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionWriteTimeout)
		err := c.rdb.Set(ctx, key, "1", c.ttl).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-c.stop:
			c.logger.Warn("completion record not written before shutdown: the task may run again if Redis lost its completion",
				"task_id", id, "queue", queue, "error", err)
			return
		default:
		}
		backoff = min(2*backoff, 2*time.Second)
		t.Reset(backoff)
	}
	c.logger.Warn("completion record not written: Redis did not answer", "task_id", id, "queue", queue)
}

// shutdown makes the background writes try once more at once and waits
// for them up to timeout.
func (c *completionRecords) shutdown(timeout time.Duration) {
	close(c.stop)
	waitgroup.WaitTimeout(&c.pending, timeout)
}
