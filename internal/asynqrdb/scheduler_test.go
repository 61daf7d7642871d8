package asynqrdb_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestSchedulerEntriesAsAsynqReadsThem pins the scheduler keys and records
// to asynq v0.26.0: asynq's own Inspector (which asynqmon's scheduler view
// calls) must read back what WriteSchedulerEntries and
// RecordSchedulerEnqueue write.
func TestSchedulerEntriesAsAsynqReadsThem(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	next := time.Unix(2_000_000_000, 0)
	prev := time.Unix(1_999_999_000, 0)
	entries := []asynqrdb.SchedulerEntry{
		{ID: "nightly", Spec: "0 0 3 * * *", Type: "report:nightly", Payload: []byte(`{"a":1}`), Opts: []string{"Queue(\"low\")"}, Next: next, Prev: prev},
		{ID: "fresh", Spec: "@every 1s", Type: "t", Next: next},
	}
	if err := asynqrdb.WriteSchedulerEntries(ctx, rdb, "tuskq", entries, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := insp.SchedulerEntries()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b *asynq.SchedulerEntry) int { return len(a.ID) - len(b.ID) })
	if len(got) != 2 {
		t.Fatalf("asynq reads %d entries, want 2", len(got))
	}
	f, n := got[0], got[1]
	if n.ID != "nightly" || n.Spec != "0 0 3 * * *" || n.Task.Type() != "report:nightly" || string(n.Task.Payload()) != `{"a":1}` ||
		!n.Next.Equal(next) || !n.Prev.Equal(prev) || len(n.Opts) != 1 {
		t.Errorf("asynq reads %+v", n)
	}
	if f.ID != "fresh" || !f.Prev.IsZero() || !f.Next.Equal(next) {
		t.Errorf("asynq reads %+v (a never-run entry has a zero Prev)", f)
	}
	if ttl, err := asynqrdb.SchedulerEntriesTTL(ctx, rdb, "tuskq"); err != nil || ttl <= 10*time.Second {
		t.Errorf("TTL %s, %v", ttl, err)
	}
	at := time.Unix(1_999_999_500, 0)
	if err := asynqrdb.RecordSchedulerEnqueue(ctx, rdb, "nightly", "sched:nightly:1999999500", at); err != nil {
		t.Fatal(err)
	}
	evs, err := insp.ListSchedulerEnqueueEvents("nightly")
	if err != nil || len(evs) != 1 || evs[0].TaskID != "sched:nightly:1999999500" || !evs[0].EnqueuedAt.Equal(at) {
		t.Fatalf("asynq reads the history %+v, %v", evs, err)
	}
	// More entries than one LPUSH of the script carries.
	many := make([]asynqrdb.SchedulerEntry, 2500)
	for i := range many {
		many[i] = asynqrdb.SchedulerEntry{ID: fmt.Sprint(i), Spec: "@hourly", Type: "t", Next: next}
	}
	if err := asynqrdb.WriteSchedulerEntries(ctx, rdb, "tuskq", many, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := insp.SchedulerEntries(); err != nil || len(got) != 2500 || got[0].ID != "2499" || got[2499].ID != "0" {
		t.Fatalf("asynq reads %d entries (%v), first %q", len(got), err, got[0].ID)
	}
	if err := asynqrdb.ClearSchedulerEntries(ctx, rdb, "tuskq"); err != nil {
		t.Fatal(err)
	}
	if got, _ := insp.SchedulerEntries(); len(got) != 0 {
		t.Errorf("after clear: %d entries", len(got))
	}
}
