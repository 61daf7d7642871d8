package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

type env struct {
	rdb    *redis.Client
	client *tasks.Client
	store  *scheduler.Store
}

func setup(t *testing.T) env {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return env{rdb: rdb, client: client, store: scheduler.NewStore(rdb)}
}

func decode(t *testing.T, name, js string) *schedule.Schedule {
	t.Helper()
	s, ps := schedule.Decode(name, []byte(js), "")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	return s
}

// run starts n schedulers; the returned stop waits for them to end.
func run(t *testing.T, e env, n int, opts scheduler.Options) (scheds []*scheduler.Scheduler, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range n {
		o := opts
		o.Client, o.Redis = e.client, e.rdb
		s, err := scheduler.New(o)
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return scheds, stop
}

// tickTasks returns the Unix ticks of the tasks of schedule name in queue.
func tickTasks(t *testing.T, insp *asynq.Inspector, queue, name string) []int64 {
	t.Helper()
	var out []int64
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListPendingTasks, insp.ListScheduledTasks} {
		infos, err := list(queue, asynq.PageSize(10000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		for _, in := range infos {
			if in.Headers[schedule.HeaderSchedule] != name {
				continue
			}
			tick, err := time.Parse(time.RFC3339, in.Headers[schedule.HeaderTick])
			if err != nil {
				t.Fatalf("task %s: tick header %q: %v", in.ID, in.Headers[schedule.HeaderTick], err)
			}
			if in.ID != schedule.TaskID(name, tick) {
				t.Fatalf("task %s stands for tick %s", in.ID, tick)
			}
			out = append(out, tick.Unix())
		}
	}
	slices.Sort(out)
	return out
}

// TestThreeReplicasOneTaskPerTick runs three schedulers on one Redis: each
// tick of an @every 1s schedule has exactly one task, and no tick is lost.
func TestThreeReplicasOneTaskPerTick(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.store.Put(t.Context(), decode(t, "every", `{"cron":"@every 1s","type":"t:every","missed":"all","queue":"q"}`), scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	scheds, stop := run(t, e, 3, scheduler.Options{})
	insp := e.client.Inspector()
	testutil.Poll(t, 60*time.Second, "6 ticks enqueued", func() bool { return len(tickTasks(t, insp, "q", "every")) >= 6 })
	stop()
	ticks := tickTasks(t, insp, "q", "every")
	for i := 1; i < len(ticks); i++ {
		if ticks[i] != ticks[i-1]+1 {
			t.Fatalf("ticks %v: not one task per second", ticks)
		}
	}
	var enq, dup int
	for _, s := range scheds {
		enq += s.Stats().Enqueued
		dup += s.Stats().Duplicates
	}
	if enq != len(ticks) {
		t.Fatalf("the replicas report %d enqueues for %d tasks", enq, len(ticks))
	}
	t.Logf("%d ticks, %d duplicate enqueues refused by Redis", len(ticks), dup)
}

// TestOverlapSkip: while the previous tick's task is pending (no worker
// runs it), later ticks are skipped; once it is gone they run again.
func TestOverlapSkip(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.store.Put(t.Context(), decode(t, "slow", `{"cron":"@every 1s","type":"t:slow","overlap":"skip","queue":"q"}`), scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	scheds, _ := run(t, e, 2, scheduler.Options{})
	insp := e.client.Inspector()
	testutil.Poll(t, 60*time.Second, "the first tick", func() bool { return len(tickTasks(t, insp, "q", "slow")) == 1 })
	testutil.Poll(t, 60*time.Second, "two ticks skipped", func() bool {
		return scheds[0].Stats().Overlaps+scheds[1].Stats().Overlaps >= 2
	})
	first := tickTasks(t, insp, "q", "slow")
	if len(first) != 1 {
		t.Fatalf("overlap skip let %d ticks in while the first was pending", len(first))
	}
	if err := insp.DeleteTask("q", schedule.TaskID("slow", time.Unix(first[0], 0))); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 60*time.Second, "a tick after the first ended", func() bool {
		got := tickTasks(t, insp, "q", "slow")
		return len(got) == 1 && got[0] > first[0]
	})
}

func TestStore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	now := time.Now()
	a := decode(t, "a", `{"cron":"@hourly","type":"t:a"}`)
	created, err := e.store.Put(ctx, a, scheduler.SourceAPI)
	if err != nil || !created {
		t.Fatalf("Put = %v, %v", created, err)
	}
	if created, err = e.store.Put(ctx, a, scheduler.SourceAPI); err != nil || created {
		t.Fatalf("second Put = %v, %v", created, err)
	}
	if err := e.store.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Get(ctx, "a", now)
	if err != nil || !got.Paused || got.Source != scheduler.SourceAPI || got.Schedule.Cron != "@hourly" || !got.Next.After(now) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if err := e.store.Resume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.Get(ctx, "a", now); got.Paused {
		t.Fatal("still paused after Resume")
	}
	if err := e.store.Pause(ctx, "nope"); !errors.Is(err, scheduler.ErrNotFound) {
		t.Fatalf("Pause(nope) = %v", err)
	}
	// The configuration owns its names.
	cfg := decode(t, "c", `{"cron":"@daily","type":"t:c"}`)
	if _, err := e.store.Reconcile(ctx, []*schedule.Schedule{cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, decode(t, "c", `{"cron":"@hourly","type":"t:c"}`), scheduler.SourceAPI); !errors.Is(err, scheduler.ErrConfigOwned) {
		t.Fatalf("run-time Put of a config schedule = %v", err)
	}
	if err := e.store.Remove(ctx, "c", scheduler.SourceAPI); !errors.Is(err, scheduler.ErrConfigOwned) ||
		!strings.Contains(err.Error(), "remove it from the configuration file") {
		t.Fatalf("run-time Remove of a config schedule = %v", err)
	}
	// A schedule removed from the configuration stops; run-time ones stay.
	removed, err := e.store.Reconcile(ctx, nil)
	if err != nil || len(removed) != 1 || removed[0] != "c" {
		t.Fatalf("Reconcile(nil) removed %v, %v", removed, err)
	}
	list, err := e.store.List(ctx, now)
	if err != nil || len(list) != 1 || list[0].Schedule.Name != "a" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := e.store.Remove(ctx, "a", scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, "a", now); !errors.Is(err, scheduler.ErrNotFound) {
		t.Fatalf("Get after Remove = %v", err)
	}
}

// TestSchedulerView: asynqmon's scheduler view (asynq's Inspector) lists
// the schedules with their next and previous run.
func TestSchedulerView(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.store.Put(t.Context(), decode(t, "view", `{"cron":"@every 1s","type":"t:view","queue":"q"}`), scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	run(t, e, 1, scheduler.Options{})
	insp := e.client.Inspector()
	testutil.Poll(t, 60*time.Second, "the entry with a previous run", func() bool {
		es, err := insp.SchedulerEntries()
		if err != nil || len(es) != 1 {
			return false
		}
		return es[0].ID == "view" && es[0].Spec == "@every 1s" && !es[0].Prev.IsZero() && es[0].Next.After(es[0].Prev)
	})
	evs, err := insp.ListSchedulerEnqueueEvents("view")
	if err != nil || len(evs) == 0 || !strings.HasPrefix(evs[0].TaskID, "sched:view:") {
		t.Fatalf("history %+v, %v", evs, err)
	}
}
