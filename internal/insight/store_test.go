package insight_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/redistest"
)

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestSnapshotsRoundTrip: workers' snapshots go through Redis, the stale
// ones are dropped and deleted, a removed worker disappears.
func TestSnapshotsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := newRedis(t)
	store := insight.NewStore(rdb)
	now := time.Now()
	clock := func() time.Time { return now }
	a := insight.NewRecorder(insight.RecorderOptions{Worker: "a", Queues: []string{"q"}, Now: clock,
		Version: func(string) string { return "1.0.0" }})
	a.Sink("t", "q").Observe(3*time.Millisecond, false, false, insight.Example{})
	a.Sink("t", "q").Observe(5*time.Millisecond, true, true, insight.Example{TaskID: "id1", TraceID: "abc", Error: "boom 12345"})
	old := insight.NewRecorder(insight.RecorderOptions{Worker: "old", Now: func() time.Time { return now.Add(-time.Minute) }})
	for _, r := range []*insight.Recorder{a, old} {
		if err := store.Publish(ctx, r.Snapshot(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := store.Snapshots(ctx, now, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 || snaps[0].Worker != "a" || len(snaps[0].Series) != 1 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	s := snaps[0].Series[0]
	if s.Attempts != 2 || s.Failures != 1 || s.Retries != 1 || s.Version != "1.0.0" ||
		len(s.Errors) != 1 || s.Errors[0].Text != "boom <n>" || len(s.Recent) != 1 || s.Recent[0].TaskID != "id1" {
		t.Fatalf("series: %+v", s)
	}
	if n, _ := rdb.HLen(ctx, insight.KeyWorkers).Result(); n != 1 {
		t.Fatalf("the stale snapshot was not deleted: %d entries", n)
	}
	if ttl, _ := rdb.PTTL(ctx, insight.KeyWorkers).Result(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL of %s: %s", insight.KeyWorkers, ttl)
	}
	if err := store.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := store.Snapshots(ctx, now, time.Minute); len(snaps) != 0 {
		t.Fatalf("after Remove: %+v", snaps)
	}
}

// TestRunnersShareOneEngine: two monitor replicas on one Redis: one holds
// the lease and runs the engine, the other shows its report; when the
// first stops, the second takes over with the saved baselines.
func TestRunnersShareOneEngine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := newRedis(t)
	store := insight.NewStore(rdb)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rec := insight.NewRecorder(insight.RecorderOptions{Worker: "w", Queues: []string{"q"}, Now: clock})
	done := 0
	queues := func(context.Context) ([]insight.QueueStat, error) {
		return []insight.QueueStat{{Name: "q", Done: done}}, nil
	}
	cfg := insight.Config{Interval: 50 * time.Millisecond, Window: time.Second, Stall: 500 * time.Millisecond, Warmup: time.Second}
	newRunner := func(owner string) *insight.Runner {
		r, err := insight.NewRunner(store, insight.RunnerOptions{Config: cfg, Owner: owner, Queues: queues, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := newRunner("a"), newRunner("b")
	for range 40 {
		mu.Lock()
		now = now.Add(cfg.Interval)
		mu.Unlock()
		for range 5 {
			rec.Sink("t", "q").Observe(time.Millisecond, false, false, insight.Example{})
			done++
		}
		if err := store.Publish(ctx, rec.Snapshot(), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := a.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ra, rb := a.Report(), b.Report()
	if ra == nil || rb == nil || !ra.At.Equal(rb.At) || !ra.Ready {
		t.Fatalf("reports differ or not ready: a %+v, b %+v", ra, rb)
	}
	st, err := store.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := st.Series["q/t"]
	if base == nil || base.Ticks < 30 || base.Att < 4 {
		t.Fatalf("saved baseline: %+v", base)
	}
	// a stops; once its lease expires, b runs the engine from the state.
	if err := rdb.Del(ctx, insight.KeyLease).Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(cfg.Interval)
	mu.Unlock()
	if err := b.Step(ctx); err != nil {
		t.Fatal(err)
	}
	st2, _ := store.LoadState(ctx)
	if owner, _ := rdb.Get(ctx, insight.KeyLease).Result(); owner != "b" || st2.Series["q/t"].Ticks < base.Ticks || !st2.Started.Equal(st.Started) {
		t.Fatalf("after the takeover: owner %q, baseline %+v (before %+v)", owner, st2.Series["q/t"], base)
	}
}
