package asynqrdb_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestQueueSizesMatchInspector pins QueueSizes to what asynq's own
// Inspector reports for the same queues.
func TestQueueSizesMatchInspector(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	for i := range 5 {
		if _, err := client.Enqueue(asynq.NewTask("t", []byte{byte(i)}), asynq.Queue("q")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("p")); err != nil {
		t.Fatal(err)
	}
	activate(ctx, t, rdb, "q", time.Now().Add(time.Minute))
	if err := rdb.Set(ctx, asynqrdb.ProcessedTotalKey("q"), 42, 0).Err(); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if err := insp.PauseQueue("p"); err != nil {
		t.Fatal(err)
	}
	qs, err := asynqrdb.Queues(ctx, rdb)
	if err != nil || len(qs) != 2 {
		t.Fatalf("Queues = %v, %v", qs, err)
	}
	sizes, err := asynqrdb.QueueSizes(ctx, rdb, []string{"q", "p", "none"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sizes[:2] {
		info, err := insp.GetQueueInfo(s.Queue)
		if err != nil {
			t.Fatal(err)
		}
		if s.Pending != int64(info.Pending) || s.Active != int64(info.Active) || s.Scheduled != int64(info.Scheduled) ||
			s.Retry != int64(info.Retry) || s.Processed != int64(info.ProcessedTotal) || s.Paused != info.Paused {
			t.Errorf("QueueSizes %+v, inspector %+v", s, info)
		}
		lat := time.Since(s.OldestPending)
		if d := lat - info.Latency; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("queue %s: oldest pending %s ago, inspector latency %s", s.Queue, lat, info.Latency)
		}
	}
	if s := sizes[0]; s.Pending != 4 || s.Active != 1 || s.Scheduled != 1 || s.Processed != 42 {
		t.Errorf("q: %+v", s)
	}
	if s := sizes[2]; s.Pending != 0 || !s.OldestPending.IsZero() {
		t.Errorf("none: %+v", s)
	}
}
