package asynqrdb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/redistest"
)

// activate moves the next pending task of q to active with the given lease
// expiry, as asynq v0.26.0's dequeue script does (RPOPLPUSH pending active,
// state active, lease ZADD), and returns its ID: the state a worker leaves
// behind when it dies holding the task.
func activate(ctx context.Context, t *testing.T, rdb *redis.Client, q string, lease time.Time) string {
	t.Helper()
	id, err := rdb.LMove(ctx, asynqrdb.PendingKey(q), asynqrdb.ActiveKey(q), "RIGHT", "LEFT").Result()
	if err != nil {
		t.Fatalf("rpoplpush: %v", err)
	}
	if err := rdb.HSet(ctx, asynqrdb.TaskKey(q, id), "state", "active").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, asynqrdb.LeaseKey(q), redis.Z{Score: float64(lease.Unix()), Member: id}).Err(); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCountAndRecover(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	now := time.Now()

	for i := range 3 {
		if _, err := client.Enqueue(asynq.NewTask("t", []byte{byte(i)}), asynq.Queue("q"), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	expired := activate(ctx, t, rdb, "q", now.Add(-40*time.Second))
	graced := activate(ctx, t, rdb, "q", now.Add(-2*time.Second))
	live := activate(ctx, t, rdb, "q", now.Add(20*time.Second))

	counts, err := asynqrdb.CountOrphans(ctx, rdb, []string{"q", "empty"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if counts["q"] != 2 || counts["empty"] != 0 || len(counts) != 2 {
		t.Fatalf("CountOrphans = %v; want q:2 (both expired leases) and empty:0", counts)
	}

	insp := asynq.NewInspectorFromRedisClient(rdb)
	active, err := insp.ListActiveTasks("q")
	if err != nil {
		t.Fatal(err)
	}
	orphaned := 0
	for _, ti := range active {
		if ti.IsOrphaned {
			orphaned++
		}
	}
	if orphaned != 2 {
		t.Fatalf("asynq reports %d orphaned tasks; want 2, as CountOrphans does", orphaned)
	}

	// A 5 s grace takes the task 40 s past its lease, not the one 2 s past.
	got, err := asynqrdb.RecoverOrphans(ctx, rdb, "q", now.Add(-5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{expired}) {
		t.Fatalf("RecoverOrphans = %v; want [%s]", got, expired)
	}
	// Recovering again finds nothing: several workers may sweep at once.
	if got, err := asynqrdb.RecoverOrphans(ctx, rdb, "q", now.Add(-5*time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("second RecoverOrphans = %v, %v; want none", got, err)
	}
	ti, err := insp.GetTaskInfo("q", expired)
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != asynq.TaskStatePending || ti.Retried != 0 {
		t.Fatalf("recovered task: state %v, retried %d; want pending, 0 (not charged)", ti.State, ti.Retried)
	}
	for _, id := range []string{graced, live} {
		if ti, err := insp.GetTaskInfo("q", id); err != nil || ti.State != asynq.TaskStateActive {
			t.Fatalf("task %s: %v, %v; want still active", id, ti, err)
		}
	}

	// A real asynq server runs the recovered task (MaxRetry 0, which
	// asynq's own recoverer would archive) exactly once, first attempt.
	ran := make(chan string, 4)
	asrv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{"q": 1}, TaskCheckInterval: 10 * time.Millisecond,
		LogLevel: asynq.FatalLevel,
	})
	if err := asrv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		n, _ := asynq.GetRetryCount(ctx)
		ran <- fmt.Sprintf("%s/%d", id, n)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer asrv.Shutdown()
	select {
	case got := <-ran:
		if got != expired+"/0" {
			t.Fatalf("server ran %s; want %s/0", got, expired)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the recovered task did not run within 20s")
	}
}

// Lease entries without an active task are skipped, and tasks behind more
// than a batch of them are still recovered in the same call.
func TestRecoverSkipsStaleLeases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	past := time.Now().Add(-time.Minute)
	stale := make([]redis.Z, asynqrdb.OrphanBatchLimit+5)
	for i := range stale {
		stale[i] = redis.Z{Score: float64(past.Unix() - 100), Member: fmt.Sprintf("stale-%03d", i)}
	}
	if err := rdb.ZAdd(ctx, asynqrdb.LeaseKey("q"), stale...).Err(); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q")); err != nil {
		t.Fatal(err)
	}
	id := activate(ctx, t, rdb, "q", past)
	got, err := asynqrdb.RecoverOrphans(ctx, rdb, "q", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{id}) {
		t.Fatalf("RecoverOrphans = %v; want [%s] past %d stale entries", got, id, len(stale))
	}
	if n, _ := rdb.ZCard(ctx, asynqrdb.LeaseKey("q")).Result(); n != int64(len(stale)) {
		t.Fatalf("lease set has %d entries; want the %d stale ones left alone", n, len(stale))
	}
}

// Recover calls the script again only while a call came back full: a
// partial batch (here of stale entries, which count as handled) ends the
// sweep with that call, a full one takes one more call to see the rest.
func TestRecoverScriptCallsPerBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	// Loads the script, so every later call is one EVALSHA.
	if _, err := asynqrdb.RecoverOrphans(ctx, rdb, "warm", time.Now()); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for _, tc := range []struct{ entries, calls int }{
		{asynqrdb.OrphanBatchLimit - 1, 1},
		{asynqrdb.OrphanBatchLimit, 2},
		{asynqrdb.OrphanBatchLimit + 5, 2},
	} {
		q := fmt.Sprintf("q%d", tc.entries)
		stale := make([]redis.Z, tc.entries)
		for i := range stale {
			stale[i] = redis.Z{Score: float64(past.Unix()), Member: fmt.Sprintf("stale-%03d", i)}
		}
		if err := rdb.ZAdd(ctx, asynqrdb.LeaseKey(q), stale...).Err(); err != nil {
			t.Fatal(err)
		}
		before := redistest.CommandCalls(t, rdb, "evalsha")
		got, err := asynqrdb.RecoverOrphans(ctx, rdb, q, time.Now())
		if err != nil || len(got) != 0 {
			t.Fatalf("Recover over %d stale entries = %v, %v; want none recovered", tc.entries, got, err)
		}
		if calls := redistest.CommandCalls(t, rdb, "evalsha") - before; calls != tc.calls {
			t.Errorf("Recover over %d stale entries ran the script %d times; want %d", tc.entries, calls, tc.calls)
		}
	}
}
