package topologytest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
)

// testSchedule runs two schedulers on the topology (queues and type of its
// own: testScheduled's worker must not take its ticks): an @every 1s schedule
// gets exactly one task per tick, none lost, and asynqmon's scheduler view
// lists it.
func testSchedule(t *testing.T, tp *topo) {
	q := tp.queues(t, "periodic", 1)[0]
	client := tp.client(t)
	rdb, err := redisconn.Client(tp.redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	name := "topo-" + q
	s, ps := schedule.Decode(name, []byte(`{"cron":"@every 1s","type":"topo:periodic","missed":"all","queue":"`+q+`"}`), "")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	store := scheduler.NewStore(rdb)
	if _, err := store.Put(t.Context(), s, scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Remove(context.WithoutCancel(t.Context()), name, scheduler.SourceAPI) }()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 2 {
		sc, err := scheduler.New(scheduler.Options{Client: client, Redis: rdb})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = sc.Run(ctx) }()
	}
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	insp := client.Inspector()
	ticks := func() []int64 {
		infos, err := insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		var out []int64
		for _, in := range infos {
			tick, err := time.Parse(time.RFC3339, in.Headers[schedule.HeaderTick])
			if err != nil || in.ID != schedule.TaskID(name, tick) {
				t.Fatalf("task %s: tick %q", in.ID, in.Headers[schedule.HeaderTick])
			}
			out = append(out, tick.Unix())
		}
		slices.Sort(out)
		return out
	}
	poll(t, "five ticks", func() bool { return len(ticks()) >= 5 })
	stop()
	got := ticks()
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("ticks %v: not one task per second", got)
		}
	}
	es, err := insp.SchedulerEntries()
	if err != nil || !slices.ContainsFunc(es, func(e *asynq.SchedulerEntry) bool { return e.ID == name }) {
		t.Errorf("asynqmon's scheduler view: %v, %v", es, err)
	}
}
