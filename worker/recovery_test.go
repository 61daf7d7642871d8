package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/tasks"
)

// orphan puts the pending task id of queue into the state a worker that
// died holding it leaves behind: active, with a lease that expired age
// ago (asynq v0.26.0's dequeue moves pending → active and adds the lease).
// asynq's own recoverer takes tasks 30 s past their lease, at its start
// and every minute: tests that must see tuskq's recovery use less.
func orphan(t *testing.T, rdb *redis.Client, queue, id string, age time.Duration) {
	t.Helper()
	ctx := t.Context()
	p := "asynq:{" + queue + "}:"
	if n, err := rdb.LRem(ctx, p+"pending", 0, id).Result(); err != nil || n != 1 {
		t.Fatalf("LREM pending %s = %d, %v; want 1", id, n, err)
	}
	pipe := rdb.TxPipeline()
	pipe.LPush(ctx, p+"active", id)
	pipe.HSet(ctx, p+"t:"+id, "state", "active")
	pipe.ZAdd(ctx, p+"lease", redis.Z{Score: float64(time.Now().Add(-age).Unix()), Member: id})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// A task left active by a dead worker runs again once its lease expired
// plus the grace, on its first attempt: not charged as a retry (it has
// MaxRetry 0, which asynq's own recoverer would archive) and not delayed.
func TestOrphanedTaskRecoveredWithoutRetryCharge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	info := e.enqueue(t, ctx, "work", &tasks.EnqueueOptions{Queue: "default", MaxRetry: maxRetry(0), Retention: time.Hour})
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	orphan(t, rdb, "default", info.ID, 5*time.Second)

	var runs counter
	reg := tasks.NewRegistry()
	if err := reg.Register("work", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		n, _ := asynq.GetRetryCount(ctx)
		runs.add("retry=" + string(rune('0'+n)))
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Worker.OrphanCheckInterval = 50 * time.Millisecond
	cfg.Worker.OrphanGrace = time.Second
	w := start(t, e.options(t, cfg, reg))

	got := e.wait(t, info)
	if got.State != asynq.TaskStateCompleted || got.Retried != 0 {
		t.Fatalf("task: state %s, retried %d; want completed, 0", got.State, got.Retried)
	}
	if runs.String() != "map[retry=0:1]" {
		t.Fatalf("runs = %s; want one run on the first attempt (retry=0:1)", runs.String())
	}
	_, body := get(t, w.Worker, "/metrics")
	if line := metricLine(body, `tuskq_orphaned_tasks_recovered_total{queue="default"}`); line != `tuskq_orphaned_tasks_recovered_total{queue="default"} 1` {
		t.Fatalf("metric line = %q; want 1 recovered", line)
	}
	var found bool
	for _, r := range e.logs.records(t) {
		if strings.HasPrefix(r["msg"].(string), "orphaned task recovered") && r["task_id"] == info.ID && r["queue"] == "default" && r["level"] == "WARN" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no WARN line \"orphaned task recovered…\" with task_id %s and queue default", info.ID)
	}
}

// A lease that expired less than worker.orphan_grace ago is left alone;
// the gauge counts the orphan meanwhile.
func TestOrphanWithinGraceIsOnlyCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	info := e.enqueue(t, ctx, "work", &tasks.EnqueueOptions{Queue: "low"})
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	orphan(t, rdb, "low", info.ID, 5*time.Second)

	cfg := e.config()
	cfg.Worker.OrphanCheckInterval = 50 * time.Millisecond
	cfg.Worker.OrphanGrace = time.Hour
	w := start(t, e.options(t, cfg, tasks.NewRegistry()))
	poll(t, "the orphaned gauge", func() bool {
		_, body := get(t, w.Worker, "/metrics")
		return metricLine(body, `tuskq_orphaned_tasks{queue="low"}`) == `tuskq_orphaned_tasks{queue="low"} 1`
	})
	active, err := e.client.Inspector().ListActiveTasks("low")
	if err != nil || len(active) != 1 || active[0].ID != info.ID || !active[0].IsOrphaned {
		t.Fatalf("active tasks = %+v, %v; want %s still active and orphaned within the grace", active, err, info.ID)
	}
	_, body := get(t, w.Worker, "/metrics")
	if line := metricLine(body, `tuskq_orphaned_tasks_recovered_total{queue="low"}`); line != `tuskq_orphaned_tasks_recovered_total{queue="low"} 0` {
		t.Fatalf("recovered metric = %q; want 0 within the grace", line)
	}
}

// With worker.completion_record, a task delivered again after its handler
// completed (here: the same task ID enqueued again, as a re-delivery looks
// to the worker) is skipped; without it, the handler runs twice.
func TestCompletionRecordSkipsRedelivery(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			var runs counter
			reg := tasks.NewRegistry()
			if err := reg.Register("work", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
				runs.add("work")
				return nil
			})); err != nil {
				t.Fatal(err)
			}
			cfg := e.config()
			cfg.Worker.CompletionRecord = on
			cfg.Worker.CompletionRecordTTL = 10 * time.Minute
			w := start(t, e.options(t, cfg, reg))
			opts := &tasks.EnqueueOptions{Queue: "critical", TaskID: "once", Retention: time.Hour}
			e.wait(t, e.enqueue(t, ctx, "work", opts))
			rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
			defer rdb.Close()
			ttl, err := rdb.PTTL(ctx, "tuskq:{critical}:done:once").Result()
			if err != nil {
				t.Fatal(err)
			}
			if on && (ttl < 9*time.Minute || ttl > 10*time.Minute) {
				t.Fatalf("completion record TTL = %s; want about 10m", ttl)
			}
			if !on && ttl != -2*time.Nanosecond {
				t.Fatalf("completion record TTL = %s; want no record (-2ns) when off", ttl)
			}
			// The re-delivery: the completed task is removed and the same
			// task comes back.
			if err := e.client.Inspector().DeleteTask("critical", "once"); err != nil {
				t.Fatal(err)
			}
			e.wait(t, e.enqueue(t, ctx, "work", opts))
			want := map[bool]int{true: 1, false: 2}[on]
			if got := runs.get("work"); got != want {
				t.Fatalf("handler ran %d times; want %d", got, want)
			}
			_, body := get(t, w.Worker, "/metrics")
			line := metricLine(body, `tuskq_redeliveries_skipped_total{queue="critical",task_type="work"}`)
			if on && line != `tuskq_redeliveries_skipped_total{queue="critical",task_type="work"} 1` {
				t.Fatalf("skipped metric = %q; want 1", line)
			}
			if !on && line != "" {
				t.Fatalf("skipped metric = %q; want none when off", line)
			}
		})
	}
}

// A completion record that cannot be written when the handler returns is
// written in the background once Redis takes it. Redis refuses the write
// for certain (an ACL that denies the worker's user the tuskq:* keys, so
// the SET fails at once with NOPERM instead of timing out and running
// later), the ACL log shows the write was tried again while refused, and
// the record appears only after the keys are allowed again: nothing but
// the background retry can write it then.
func TestCompletionRecordWrittenAfterOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	release := make(chan struct{})
	reg := tasks.NewRegistry()
	if err := reg.Register("work", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		<-release
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Worker.CompletionRecord = true
	start(t, e.options(t, cfg, reg))
	info := e.enqueue(t, ctx, "work", &tasks.EnqueueOptions{Queue: "default"})
	key := "tuskq:{default}:done:" + info.ID
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	poll(t, "the task to start", func() bool {
		ti, err := e.client.Inspector().GetTaskInfo("default", info.ID)
		return err == nil && ti.State == asynq.TaskStateActive
	})
	// The default user (the worker's and this test's) keeps asynq's keys
	// and every command, and loses tuskq's keys.
	if err := rdb.Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "resetkeys", "~asynq:*").Err(); err != nil {
		t.Fatal(err)
	}
	allowed := false
	allow := func() {
		if !allowed {
			allowed = true
			if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "allkeys").Err(); err != nil {
				t.Error(err)
			}
		}
	}
	defer allow()
	close(release)
	// Denied twice: on return, and again by the background retry.
	var denied int64
	poll(t, "a second denied write of the completion record (the background retry)", func() bool {
		entries, err := rdb.ACLLog(ctx, 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.Object == key && en.Reason == "key" {
				denied = en.Count
			}
		}
		return denied >= 2
	})
	allow()
	poll(t, "the completion record", func() bool {
		n, err := rdb.Exists(ctx, key).Result()
		return err == nil && n == 1
	})
}

// When asynq's own recoverer takes an orphan (tuskq's recovery off here),
// the worker's RetryDelayFunc and IsFailure see asynq.ErrLeaseExpired: the
// task comes back without a retry charged and without the backoff delay
// (asynq's default is 15 s at least).
func TestLeaseExpiryNotChargedByAsynqRecoverer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	info := e.enqueue(t, ctx, "work", &tasks.EnqueueOptions{Queue: "default", MaxRetry: maxRetry(3), Retention: time.Hour})
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	orphan(t, rdb, "default", info.ID, 40*time.Second) // past asynq's 30 s cutoff

	reg := tasks.NewRegistry()
	if err := reg.Register("work", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Worker.OrphanCheckInterval = 0
	opts := e.options(t, cfg, reg)
	opts.RetryDelay = nil // asynq's default backoff, 15 s or more
	began := time.Now()
	start(t, opts)
	got := e.wait(t, info)
	if took := time.Since(began); got.State != asynq.TaskStateCompleted || got.Retried != 0 || took > 10*time.Second {
		t.Fatalf("task: state %s, retried %d after %s; want completed, 0 retries, well before asynq's 15 s minimum backoff",
			got.State, got.Retried, took.Round(time.Millisecond))
	}
}
