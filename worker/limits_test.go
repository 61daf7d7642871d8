package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/tasks"
)

// inFlightScript counts a start in KEYS[1] and keeps the highest count
// seen in KEYS[2].
var inFlightScript = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n > tonumber(redis.call("GET", KEYS[2]) or "0") then redis.call("SET", KEYS[2], n) end
return n`)

// gauge is a processor that counts itself in Redis while it runs (the
// counter named by prefix, or prefix plus the payload's key field), keeps
// the highest count, and records its task ID as done.
func gauge(rdb *redis.Client, prefix string, d time.Duration, keyed bool) tasks.Processor {
	return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		name := prefix
		if keyed {
			name += ":" + strings.Trim(string(t.Payload()), `{}"customer:`)
		}
		bg := context.WithoutCancel(ctx)
		if err := inFlightScript.Run(bg, rdb, []string{name + ":now", name + ":max"}).Err(); err != nil {
			return err
		}
		defer rdb.Decr(bg, name+":now")
		time.Sleep(d) // the work itself
		id, _ := asynq.GetTaskID(ctx)
		return rdb.SAdd(bg, prefix+":done", id).Err()
	})
}

// startFleet starts n workers on cfg with reg, each with its own metrics.
func startFleet(t *testing.T, e *env, n int, cfg config.Config, reg *tasks.Registry, lopts limits.Options) []*running {
	t.Helper()
	var out []*running
	for range n {
		opts := e.options(t, cfg, reg)
		opts.Limits = lopts
		out = append(out, start(t, opts))
	}
	return out
}

// queueCounts returns the retry and archived counts of queue.
func queueCounts(t *testing.T, rdb *redis.Client, queue string) (retry, archived int) {
	t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	return info.Retry, info.Archived
}

// TestConcurrencyLimitAcrossWorkers: three workers (in-process, each with
// its own asynq servers, connections and limiter) share a limit of 2 on a
// type; 60 tasks of 300 ms never run more than 2 at once, all complete,
// none is charged a retry (MaxRetry 0: one charge would archive it), and
// the deferrals are logged and counted with the limit's name.
func TestConcurrencyLimitAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	cfg := e.config()
	cfg.Limits = []config.LimitConfig{{Name: "reports", Type: "report:*", Concurrency: "2"}}
	reg := tasks.NewRegistry()
	reg.MustRegister("report:build", gauge(rdb, "report", 300*time.Millisecond, false))
	fleet := startFleet(t, e, 3, cfg, reg, limits.Options{})

	reqs := make([]tasks.Request, 60)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "report:build", Payload: []byte(`{}`), Options: tasks.EnqueueOptions{MaxRetry: maxRetry(0)}}
	}
	e.enqueueMany(t, reqs)
	testutil60(t, rdb, "report:done", 60, 90*time.Second)

	if m, _ := rdb.Get(t.Context(), "report:max").Int(); m != 2 {
		t.Fatalf("at most %d ran at once; want exactly 2 (the limit, reached)", m)
	}
	if r, a := queueCounts(t, rdb, "default"); r != 0 || a != 0 {
		t.Fatalf("retry %d, archived %d; want 0, 0 (no retry charged)", r, a)
	}
	var deferred []map[string]any
	for _, r := range e.logs.records(t) {
		if r["msg"] == "task deferred" {
			deferred = append(deferred, r)
		}
	}
	if len(deferred) == 0 {
		t.Fatal("no task deferred line")
	}
	if r := deferred[0]; r["outcome"] != "deferred" || r["limit"] != "reports" || r["reason"] != "concurrency" || r["retry"] != float64(0) {
		t.Fatalf("deferred line %v; want outcome deferred, limit reports, reason concurrency, retry 0", r)
	}
	total := 0
	for _, w := range fleet {
		_, body := get(t, w.Worker, "/metrics")
		var n int
		if line := metricLine(body, `tuskq_tasks_deferred_total{queue="default",reason="concurrency",task_type="report:build"}`); line != "" {
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%d", &n); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
		}
		total += n
	}
	if total != len(deferred) {
		t.Fatalf("tuskq_tasks_deferred_total{reason=concurrency} sums to %d over the fleet; the logs have %d deferrals", total, len(deferred))
	}
}

// testutil60 waits until the set key holds want members.
func testutil60(t *testing.T, rdb *redis.Client, key string, want int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		n, _ := rdb.SCard(t.Context(), key).Result()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d members after %s; want %d", key, n, limit, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConcurrencySlotsOfDeadWorkerExpire: slots held by a worker that died
// (written as its leases would be left: nobody renews or releases them)
// block the limit only until their leases expire, then the tasks run.
func TestConcurrencySlotsOfDeadWorkerExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	ctx := t.Context()
	cfg := e.config()
	cfg.Limits = []config.LimitConfig{{Name: "reports", Type: "report:*", Concurrency: "2"}}
	reg := tasks.NewRegistry()
	reg.MustRegister("report:build", gauge(rdb, "report", 50*time.Millisecond, false))
	const ttl = 3 * time.Second
	// The dead worker's two slots, expiring ttl from now.
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	exp := float64(now.Add(ttl).UnixMilli())
	rdb.ZAdd(ctx, "{tuskq:limit:reports}:slots:", redis.Z{Score: exp, Member: "dead-1"}, redis.Z{Score: exp, Member: "dead-2"})
	startFleet(t, e, 2, cfg, reg, limits.Options{LeaseTTL: ttl})
	began := time.Now()
	reqs := make([]tasks.Request, 10)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "report:build", Payload: []byte(`{}`), Options: tasks.EnqueueOptions{MaxRetry: maxRetry(0)}}
	}
	e.enqueueMany(t, reqs)
	testutil60(t, rdb, "report:done", 10, 60*time.Second)
	if took := time.Since(began); took < ttl-500*time.Millisecond {
		t.Fatalf("tasks done %s after the start; the dead worker's slots (lease %s) were not respected", took, ttl)
	}
	if m, _ := rdb.Get(ctx, "report:max").Int(); m > 2 {
		t.Fatalf("%d ran at once; want at most 2", m)
	}
	if r, a := queueCounts(t, rdb, "default"); r != 0 || a != 0 {
		t.Fatalf("retry %d, archived %d; want 0, 0", r, a)
	}
}

// TestKeyedLimitKeepsKeysApart: a limit of 1 per customer lets two
// customers run side by side, each one task at a time.
func TestKeyedLimitKeepsKeysApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	cfg := e.config()
	cfg.Limits = []config.LimitConfig{{Name: "per-customer", Type: "sync", Key: "payload.customer", Concurrency: "1"}}
	reg := tasks.NewRegistry()
	reg.MustRegister("sync", gauge(rdb, "sync", 200*time.Millisecond, true))
	startFleet(t, e, 2, cfg, reg, limits.Options{})
	// Both customers' tasks, and a plain counter over both.
	var reqs []tasks.Request
	for i := range 16 {
		c := "a"
		if i%2 == 1 {
			c = "b"
		}
		reqs = append(reqs, tasks.Request{Type: "sync", Payload: []byte(`{"customer":"` + c + `"}`), Options: tasks.EnqueueOptions{MaxRetry: maxRetry(0)}})
	}
	e.enqueueMany(t, reqs)
	testutil60(t, rdb, "sync:done", 16, 90*time.Second)
	for _, c := range []string{"a", "b"} {
		if m, _ := rdb.Get(t.Context(), "sync:"+c+":max").Int(); m != 1 {
			t.Fatalf("customer %s: %d ran at once; want 1", c, m)
		}
	}
}

// TestRateLimitAcrossWorkers: rate 50/s (burst 1) across three workers and
// a backlog of 1,000 tasks, watched for 10 s: no one-second window has
// more than 51 starts (50/s plus the burst) plus jitterAllowance, and at
// least 90 % of the allowed 500 starts happen.
//
// The limiter admits starts exactly 20 ms apart in Redis's time and each
// task starts at its admitted time on the worker's clock mapped to
// Redis's; what the processor sees is that time plus the scheduling delay
// of its goroutine, which under -race on a loaded 2-core machine reaches
// tens of milliseconds (measured: up to 3 extra starts in a window), worth up to
// five starts at 50/s when it reaches 100 ms.
func TestRateLimitAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	cfg := e.config()
	cfg.Worker.Concurrency = 50
	cfg.Limits = []config.LimitConfig{{Name: "calls", Type: "call", Rate: "50/s"}}
	var mu sync.Mutex
	var starts []time.Time
	reg := tasks.NewRegistry()
	reg.MustRegister("call", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return nil
	}))
	reqs := make([]tasks.Request, 1000)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "call", Payload: []byte(`{}`), Options: tasks.EnqueueOptions{MaxRetry: maxRetry(0)}}
	}
	e.enqueueMany(t, reqs)
	startFleet(t, e, 3, cfg, reg, limits.Options{})
	time.Sleep(11 * time.Second) // the measurement period itself, not a synchronisation
	mu.Lock()
	got := slices.Clone(starts)
	mu.Unlock()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	if len(got) == 0 {
		t.Fatal("no task started")
	}
	first := got[0]
	var in10 []time.Time
	for _, s := range got {
		if s.Sub(first) < 10*time.Second {
			in10 = append(in10, s)
		}
	}
	const jitterAllowance = 5
	worst := 0
	for i, s := range in10 {
		n := 0
		for _, u := range in10[i:] {
			if u.Sub(s) >= time.Second {
				break
			}
			n++
		}
		worst = max(worst, n)
		if n > 51+jitterAllowance {
			t.Fatalf("%d starts in the second from %s (start %d); want at most 51 (50/s plus a burst of 1) plus %d of scheduling jitter", n, s.Sub(first), i, jitterAllowance)
		}
	}
	if len(in10) < 450 {
		t.Fatalf("%d starts in the first 10 s; want at least 450 (90 %% of 50/s)", len(in10))
	}
	t.Logf("%d starts in the first 10 s; at most %d in a one-second window", len(in10), worst)
}

// TestUncappedTypeNotHeldUp: a capped type and an uncapped type share a
// queue; while the capped one is saturated (one at a time, 40 tasks of
// 200 ms, 8 s at least), all 200 uncapped tasks finish.
func TestUncappedTypeNotHeldUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	cfg := e.config()
	cfg.Limits = []config.LimitConfig{{Name: "slow", Type: "slow", Concurrency: "1"}}
	reg := tasks.NewRegistry()
	reg.MustRegister("slow", gauge(rdb, "slow", 200*time.Millisecond, false))
	reg.MustRegister("fast", gauge(rdb, "fast", 5*time.Millisecond, false))
	startFleet(t, e, 2, cfg, reg, limits.Options{})
	var reqs []tasks.Request
	for range 40 {
		reqs = append(reqs, tasks.Request{Type: "slow", Payload: []byte(`{}`)})
	}
	for range 200 {
		reqs = append(reqs, tasks.Request{Type: "fast", Payload: []byte(`{}`)})
	}
	e.enqueueMany(t, reqs)
	testutil60(t, rdb, "fast:done", 200, 60*time.Second)
	if n, _ := rdb.SCard(t.Context(), "slow:done").Result(); n > 30 {
		t.Fatalf("%d of 40 capped tasks done when the 200 uncapped finished; want the uncapped done while most capped still wait", n)
	}
	testutil60(t, rdb, "slow:done", 40, 90*time.Second)
	if m, _ := rdb.Get(t.Context(), "slow:max").Int(); m != 1 {
		t.Fatalf("%d capped tasks ran at once; want 1", m)
	}
}

// TestSnoozeChargesNoRetry: a processor's Snooze defers its task (MaxRetry
// 0: a charged retry would archive it), and the task runs again.
func TestSnoozeChargesNoRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	var calls counter
	reg := tasks.NewRegistry()
	reg.MustRegister("later", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		if calls.add(id) == 1 {
			return tasks.Snooze(time.Second)
		}
		return rdb.SAdd(context.WithoutCancel(ctx), "later:done", id).Err()
	}))
	start(t, e.options(t, e.config(), reg))
	info := e.enqueue(t, t.Context(), "later", &tasks.EnqueueOptions{MaxRetry: maxRetry(0)})
	testutil60(t, rdb, "later:done", 1, 60*time.Second)
	if n := calls.get(info.ID); n != 2 {
		t.Fatalf("ran %d times; want 2", n)
	}
	if r, a := queueCounts(t, rdb, "default"); r != 0 || a != 0 {
		t.Fatalf("retry %d, archived %d; want 0, 0", r, a)
	}
	lines := e.logs.taskRecords(t, info.ID, "task deferred")
	if len(lines) != 1 || lines[0]["reason"] != "snooze" || lines[0]["outcome"] != "deferred" || lines[0]["retry"] != float64(0) {
		t.Fatalf("deferred lines %v; want one with reason snooze, outcome deferred, retry 0", lines)
	}
}
