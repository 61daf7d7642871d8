package asynqrdb

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// waitingServer is an asynq server whose fetches go through a MultiFetch
// that waits for wake-up tokens, as a worker's do with worker.wake push.
type waitingServer struct {
	rdb    *redis.Client
	waiter *Waiter
	srv    *asynq.Server
	done   chan string // IDs of the tasks processed
}

func startWaiting(t *testing.T, addr string, queues map[string]int, opts WaiterOptions) *waitingServer {
	t.Helper()
	return startWaitingHow(t, addr, queues, opts, false)
}

// startWaitingHow is startWaiting, fetching queue by queue as in Redis
// Cluster when perQueue is set.
func startWaitingHow(t *testing.T, addr string, queues map[string]int, opts WaiterOptions, perQueue bool) *waitingServer {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	// As the worker's: without go-redis's re-sends (see NewWaiter).
	waiter := NewWaiter(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}), opts)
	fetch := NewMultiFetch(rdb, FetchQueues(queues), false)
	if perQueue {
		fetch.PerQueue()
	}
	fetch.Wait(waiter, 0)
	client := NewServerClient(rdb, fetch, nil)
	if !perQueue {
		client.ForwardTogether(NewForwardTogether(rdb, FetchQueues(queues)))
	}
	srv := asynq.NewServerFromRedisClient(client, asynq.Config{
		Concurrency: 2, Queues: queues, TaskCheckInterval: 10 * time.Millisecond,
		DelayedTaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	ws := &waitingServer{rdb: rdb, waiter: waiter, srv: srv, done: make(chan string, 100)}
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		ws.done <- id
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { waiter.Stop(); srv.Shutdown() })
	return ws
}

// waitDone waits for task id to be processed.
func (ws *waitingServer) waitDone(t *testing.T, id string, limit time.Duration) {
	t.Helper()
	select {
	case got := <-ws.done:
		if got != id {
			t.Fatalf("processed %s; want %s", got, id)
		}
	case <-time.After(limit):
		t.Fatalf("task %s not processed within %s", id, limit)
	}
}

// TestIdleServerSendsNoFetch: a waiting server blocks on the markers and
// sends no fetch while no task arrives (several waits go by; the fallback
// is a minute).
func TestIdleServerSendsNoFetch(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 2, "b": 1},
		WaiterOptions{Fallback: time.Minute, MaxWait: 50 * time.Millisecond})
	testutil.Poll(t, 30*time.Second, "a first blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	fetches := redistest.CommandCalls(t, ws.rdb, "rpoplpush")
	blpops := redistest.CommandCalls(t, ws.rdb, "blpop")
	testutil.Poll(t, 30*time.Second, "five more blocking waits", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= blpops+5
	})
	if got := redistest.CommandCalls(t, ws.rdb, "rpoplpush"); got != fetches {
		t.Fatalf("an idle waiting server fetched %d times during 5 waits; want 0", got-fetches)
	}
}

// TestWakeOnEnqueue: a task stored by the enqueue script wakes the
// waiting server (the fallback is a minute), which fetches once for it.
func TestWakeOnEnqueue(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 1}, WaiterOptions{Fallback: time.Minute})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	fetches := redistest.CommandCalls(t, ws.rdb, "rpoplpush")
	ctx := t.Context()
	call := NewEnqueueCall(1, 0)
	e := Prepare(time.Now(), &Task{Type: "x", ID: "t1", Queue: "a"}, "n1")
	call.Add(&e)
	if _, _, err := RunEnqueue(ctx, ws.rdb, call, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	ws.waitDone(t, "t1", 30*time.Second)
	// The wake-up fetch took the task; the server's next fetch may have
	// run already and found nothing. A poll would show as more.
	if got := redistest.CommandCalls(t, ws.rdb, "rpoplpush") - fetches; got < 1 || got > 2 {
		t.Fatalf("%d fetches for one task; want the one the token caused (and at most the empty one after it)", got)
	}
}

// TestForeignTaskPickedUpByFallback: a task of a plain asynq client (no
// token) is processed by the fallback fetch.
func TestForeignTaskPickedUpByFallback(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 1}, WaiterOptions{Fallback: 200 * time.Millisecond})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	client := asynq.NewClientFromRedisClient(ws.rdb)
	info, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue("a"))
	if err != nil {
		t.Fatal(err)
	}
	if n := ws.rdb.LLen(t.Context(), WakeKey("a")).Val(); n != 0 {
		t.Fatalf("asynq's client pushed %d tokens; the test needs none", n)
	}
	ws.waitDone(t, info.ID, 5*time.Second) // 200 ms, with room for a loaded machine
}

// TestFallbackFetchLeavesMarkers: the fetches at the fallback, after a
// wait that saw every marker empty, delete no marker (the script skips
// its DEL of each queue's marker); a fetch woken by a stale token, which
// finds the queues empty, still clears them.
func TestFallbackFetchLeavesMarkers(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 2, "b": 1}, WaiterOptions{Fallback: 100 * time.Millisecond})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	fetches := redistest.CommandCalls(t, ws.rdb, "rpoplpush")
	dels := redistest.CommandCalls(t, ws.rdb, "del")
	testutil.Poll(t, 30*time.Second, "five fallback fetches (two queues each)", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "rpoplpush") >= fetches+10
	})
	// asynq's own DELs (its heartbeat's) are at most one per 5 s here.
	if got := redistest.CommandCalls(t, ws.rdb, "del") - dels; got > 2 {
		t.Fatalf("%d DELs during five fallback fetches; want none of the markers'", got)
	}
	// A stale token (its task gone) wakes the server, whose empty fetch
	// clears both markers.
	if err := Wake(t.Context(), ws.rdb, "b", 3); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the stale tokens cleared", func() bool {
		return ws.rdb.Exists(t.Context(), WakeKey("b")).Val() == 0
	})
}

// TestScheduledTaskWakes: a scheduled task coming due is forwarded by
// asynq's forwarder, whose script ServerClient follows with a token.
func TestScheduledTaskWakes(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 1}, WaiterOptions{Fallback: time.Minute})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	client := asynq.NewClientFromRedisClient(ws.rdb)
	info, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue("a"), asynq.ProcessIn(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ws.waitDone(t, info.ID, 30*time.Second)
}

// TestStopEndsWait: Stop ends a wait of a minute at once, so asynq's
// Shutdown is prompt.
func TestStopEndsWait(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	ws := startWaiting(t, redisSrv.Addr(), map[string]int{"a": 1},
		WaiterOptions{Fallback: time.Minute, MaxWait: time.Minute})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	start := time.Now()
	ws.waiter.Stop()
	ws.srv.Shutdown()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown during a wait took %s; want well under the minute of the wait", d)
	}
}

// TestEnqueuePushesTokens: one token per task stored pending, none for a
// scheduled one, capped at WakeCap; an empty fetch clears the marker.
func TestEnqueuePushesTokens(t *testing.T) {
	t.Parallel()
	if !strings.Contains(wakeLua, strconv.Itoa(WakeCap)) || !strings.Contains(wakeLua, strconv.Itoa(WakeCap-1)) {
		t.Fatal("wakeLua does not cap at WakeCap")
	}
	redisSrv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	defer rdb.Close()
	ctx := t.Context()
	enqueue := func(n int, in time.Duration) {
		t.Helper()
		now := time.Now()
		call := NewEnqueueCall(n, 0)
		for i := range n {
			e := Prepare(now, &Task{Type: "x", ID: strconv.Itoa(i) + in.String(), Queue: "a", ProcessAt: now.Add(in)}, "n")
			call.Add(&e)
		}
		if _, _, err := RunEnqueue(ctx, rdb, call, RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(3, 0)
	if n := rdb.LLen(ctx, WakeKey("a")).Val(); n != 3 {
		t.Fatalf("%d tokens after 3 pending tasks; want 3", n)
	}
	enqueue(2, time.Hour)
	if n := rdb.LLen(ctx, WakeKey("a")).Val(); n != 3 {
		t.Fatalf("%d tokens after 2 more scheduled tasks; want still 3", n)
	}
	enqueue(WakeCap+100, -time.Second)
	if n := rdb.LLen(ctx, WakeKey("a")).Val(); n != WakeCap {
		t.Fatalf("%d tokens after %d tasks; want the cap %d", n, WakeCap+103, WakeCap)
	}
	rdb.Del(ctx, PendingKey("a"))
	fetch := NewMultiFetch(rdb, FetchQueues(map[string]int{"a": 1}), false)
	cmd, ok := fetch.dequeue(ctx, []string{PendingKey("a"), PausedKey("a"), ActiveKey("a"), LeaseKey("a")}, []any{time.Now().Unix() + 30, TaskKeyPrefix("a")})
	if !ok || !errors.Is(cmd.Err(), redis.Nil) {
		t.Fatalf("fetch of an empty queue: %v, %v", ok, cmd.Err())
	}
	if n := rdb.LLen(ctx, WakeKey("a")).Val(); n != 0 {
		t.Fatalf("%d stale tokens left after a fetch found the queue empty; want 0", n)
	}
}

// TestForwardScriptIsAsynqs: a bare asynq server forwarding a scheduled
// task runs asynqForwardScript, which ServerClient recognizes by SHA-1.
func TestForwardScriptIsAsynqs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("fwd:x", nil), asynq.ProcessIn(time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	server := asynq.NewServer(opt, asynq.Config{Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond,
		DelayedTaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := server.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		done <- struct{}{}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("asynq did not process the task")
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ok, err := rdb.ScriptExists(t.Context(), sha1Hex(asynqForwardScript)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !ok[0] {
		t.Fatal("asynqForwardScript is not the script asynq runs to forward due tasks: update it from asynq's internal/rdb/rdb.go")
	}
}

// TestForwardTogether: one script forwards the due tasks of every queue
// (a set of more than asynq's 100 per call included): every scheduled task
// is processed once, woken by its token (the fallback is a minute), and
// an idle round costs one script for the six sets of three queues.
func TestForwardTogether(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	queues := map[string]int{"a": 3, "b": 2, "c": 1}
	ws := startWaiting(t, redisSrv.Addr(), queues, WaiterOptions{Fallback: time.Minute})
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 1
	})
	// Idle rounds (every 50 ms): one EVALSHA and six ZRANGEBYSCORE each,
	// where asynq's forwarder sends six of each.
	evals, ranges := redistest.CommandCalls(t, ws.rdb, "evalsha"), redistest.CommandCalls(t, ws.rdb, "zrangebyscore")
	testutil.Poll(t, 30*time.Second, "ten idle forward rounds", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "zrangebyscore") >= ranges+60
	})
	dEval := redistest.CommandCalls(t, ws.rdb, "evalsha") - evals
	dRange := redistest.CommandCalls(t, ws.rdb, "zrangebyscore") - ranges
	if dRange < 4*dEval {
		t.Fatalf("%d scripts for %d ZRANGEBYSCORE of idle forward rounds; want about one per six", dEval, dRange)
	}

	client := asynq.NewClientFromRedisClient(ws.rdb)
	want := map[string]bool{}
	for q, n := range map[string]int{"a": 1, "b": 150, "c": 2} {
		for range n {
			info, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue(q), asynq.ProcessIn(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			want[info.ID] = true
		}
	}
	got := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case id := <-ws.done:
			got[id]++
			if !want[id] || got[id] > 1 {
				t.Fatalf("task %s processed %d times (ours: %v)", id, got[id], want[id])
			}
		case <-deadline:
			t.Fatalf("%d of %d scheduled tasks processed", len(got), len(want))
		}
	}
}

// TestWaitSurvivesOutage: a server waiting on the markers loses its
// connection (Redis unreachable, as in a restart or failover); a task
// whose token the outage lost (one of a plain asynq client here) is
// fetched as soon as Redis answers again, not at the fallback a minute
// later.
func TestWaitSurvivesOutage(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	gate := redistest.NewGate(t, redisSrv.Addr())
	ws := startWaiting(t, gate.Addr(), map[string]int{"a": 1}, WaiterOptions{Fallback: time.Minute})
	direct := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	defer direct.Close()
	testutil.Poll(t, 30*time.Second, "a blocking wait", func() bool {
		return redistest.CommandCalls(t, direct, "blpop") >= 1
	})
	if err := gate.Down(); err != nil {
		t.Fatal(err)
	}
	info, err := asynq.NewClientFromRedisClient(direct).Enqueue(asynq.NewTask("x", nil), asynq.Queue("a"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the outage: a few failed waits
	if err := gate.Up(); err != nil {
		t.Fatal(err)
	}
	ws.waitDone(t, info.ID, 20*time.Second) // the fallback is a minute
}
