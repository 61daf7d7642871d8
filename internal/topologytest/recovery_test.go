package topologytest

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/tasks"
)

// testOrphanRecovery: tasks left active by a dead worker (on several nodes
// in cluster mode) are recovered by tuskq's orphan check, run once on the
// same attempt, and leave completion records in their queue's slot; a
// completed task delivered again is skipped.
func testOrphanRecovery(t *testing.T, tp *topo) {
	ctx := t.Context()
	qs := tp.queues(t, "orphan", 3)
	c := tp.client(t)
	rdb, err := redisconn.Client(tp.redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })

	ids := map[string]string{}
	for _, q := range qs {
		info, err := c.Enqueue(ctx, "topo:orphan", []byte(`{}`), &tasks.EnqueueOptions{Queue: q, MaxRetry: intp(0), Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids[q] = info.ID
		// What asynq's dequeue leaves behind when its worker dies: the task
		// active with a lease that expired (here 5 s ago; asynq's own
		// recoverer waits for 30 s).
		p := "asynq:{" + q + "}:"
		if n, err := rdb.LRem(ctx, p+"pending", 0, info.ID).Result(); err != nil || n != 1 {
			t.Fatalf("queue %s: LREM pending = %d, %v", q, n, err)
		}
		_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.LPush(ctx, p+"active", info.ID)
			pipe.HSet(ctx, p+"t:"+info.ID, "state", "active")
			pipe.ZAdd(ctx, p+"lease", redis.Z{Score: float64(time.Now().Add(-5 * time.Second).Unix()), Member: info.ID})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	rec, reg := recording("topo:orphan")
	cfg := tp.config(weights(qs))
	cfg.Worker.OrphanCheckInterval = 50 * time.Millisecond
	cfg.Worker.OrphanGrace = time.Second
	cfg.Worker.CompletionRecord = true
	startWorker(t, cfg, reg)
	for _, q := range qs {
		ti := wait(t, c, q, ids[q])
		if ti.State != asynq.TaskStateCompleted || ti.Retried != 0 {
			t.Fatalf("queue %s: state %s, retried %d; want completed on the first attempt", q, ti.State, ti.Retried)
		}
		if n, err := rdb.Exists(ctx, "tuskq:{"+q+"}:done:"+ids[q]).Result(); err != nil || n != 1 {
			t.Fatalf("queue %s: completion record: %d, %v; want 1", q, n, err)
		}
	}
	if got := rec.count(); got != len(qs) {
		t.Fatalf("%d runs; want %d, one per recovered task", got, len(qs))
	}

	// The same task delivered again (deleted, then enqueued under its ID)
	// is acknowledged without running.
	q := qs[0]
	if err := c.Inspector().DeleteTask(q, ids[q]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "topo:orphan", []byte(`{}`), &tasks.EnqueueOptions{Queue: q, TaskID: ids[q], Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wait(t, c, q, ids[q])
	if got := rec.count(); got != len(qs) {
		t.Fatalf("%d runs after the re-delivery; want still %d", got, len(qs))
	}
}
