package monitor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// TestScheduleMetrics: /metrics exports the last tick enqueued and the
// ticks missed per schedule. The scheduler's clock is set 20 s back, then
// forward, so that it finds 19 ticks missed.
func TestScheduleMetrics(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s, ps := schedule.Decode("beat", []byte(`{"cron":"@every 1s","type":"ops:beat"}`), "")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	store := scheduler.NewStore(rdb)
	if _, err := store.Put(t.Context(), s, scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	offset := -20 * time.Second
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	sched, err := scheduler.New(scheduler.Options{Client: client, Redis: rdb, Now: clock, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = sched.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var first time.Time
	testutil.Poll(t, 60*time.Second, "a first tick", func() bool {
		e, err := store.Get(t.Context(), "beat", time.Now())
		first = e.Run
		return err == nil && !e.Run.IsZero()
	})
	mu.Lock()
	offset = 0
	mu.Unlock()
	var e scheduler.Entry
	testutil.Poll(t, 60*time.Second, "ticks missed", func() bool {
		e, _ = store.Get(t.Context(), "beat", time.Now())
		return e.Missed > 0
	})
	if e.Missed < 15 || e.Missed > 21 {
		t.Errorf("missed %d ticks after a 20 s jump; want about 19 (first tick %s, then %s)", e.Missed, first, e.Run)
	}
	ts := serve(t, Options{Redis: redisAt(srv.Addr())})
	_, m := do(t, noRedirect(), http.MethodGet, ts.URL+"/metrics", nil)
	for _, want := range []string{
		fmt.Sprintf("tuskq_schedule_ticks_missed_total{schedule=\"beat\"} %d\n", e.Missed),
		"tuskq_schedule_last_tick_timestamp_seconds{schedule=\"beat\"} ",
		"tuskq_schedule_paused{schedule=\"beat\"} 0\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	line := testutil.MetricLine(m, `tuskq_schedule_last_tick_timestamp_seconds{schedule="beat"}`)
	if line == "" || strings.HasSuffix(line, " 0") {
		t.Errorf("last tick line %q", line)
	}
}
