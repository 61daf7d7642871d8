package limits

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// TestReadUsage: the use read back is what the limiter's scripts hold —
// slots taken, tasks waiting for one, key values tracked, starts booked
// ahead and tasks deferred by the rate — and an expired lease is not
// counted.
func TestReadUsage(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr()})
	defer rdb.Close()
	ctx := t.Context()
	l := New(nil, Options{LeaseTTL: time.Minute})

	conc := Limit{Name: "reports", Type: "report:*", Concurrency: 2}
	for i, id := range []string{"a", "b", "c", "d"} {
		_, _, ok, err := l.acquire(ctx, rdb, conc, asynq.NewTask("report:x", nil), "default", id)
		if err != nil || ok != (i < 2) {
			t.Fatalf("acquire %s: ok %v, err %v", id, ok, err)
		}
	}
	// A dead worker's slot, past its lease.
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, slotsKey("reports", ""), redis.Z{Score: float64(now.UnixMilli() - 1000), Member: "dead"})
	if u, err := ReadUsage(ctx, rdb, conc); err != nil || u != (Usage{InUse: 2, Waiting: 2}) {
		t.Errorf("concurrency use %+v, %v; want 2 in use, 2 waiting", u, err)
	}

	keyed := Limit{Name: "tenants", Concurrency: 1, Key: "payload.tenant"}
	for _, tenant := range []string{"acme", "acme", "globex"} {
		if _, _, _, err := l.acquire(ctx, rdb, keyed, asynq.NewTask("t", []byte(`{"tenant":"`+tenant+`"}`)), "default", tenant+time.Now().String()); err != nil {
			t.Fatal(err)
		}
	}
	if u, err := ReadUsage(ctx, rdb, keyed); err != nil || u != (Usage{InUse: 2, Waiting: 1, Keys: 2}) {
		t.Errorf("keyed use %+v, %v; want 2 in use, 1 waiting, 2 keys", u, err)
	}

	// One start a minute: the first is taken (booked a minute ahead), the
	// next two are deferred to come back one and two minutes later.
	rate := Limit{Name: "calls", Rate: Rate{N: 1, Per: time.Minute}}
	for i := range 3 {
		if _, _, ok, err := l.take(ctx, rdb, rate, asynq.NewTask("call", nil)); err != nil || ok != (i == 0) {
			t.Fatalf("take %d: ok %v, err %v", i, ok, err)
		}
	}
	u, err := ReadUsage(ctx, rdb, rate)
	if err != nil || u.RateDeferred != 2 || u.RateBooked < 50*time.Second || u.RateBooked > time.Minute || u.InUse != 0 {
		t.Errorf("rate use %+v, %v; want about a minute booked and 2 deferred", u, err)
	}
	if u, err := ReadUsage(ctx, rdb, Limit{Name: "idle", Concurrency: 3, Rate: Rate{N: 5, Per: time.Second}}); err != nil || u != (Usage{}) {
		t.Errorf("unused limit %+v, %v", u, err)
	}
}
