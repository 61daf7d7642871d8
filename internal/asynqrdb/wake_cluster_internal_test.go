package asynqrdb

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// The wait of a server fetching queue by queue (Redis Cluster) is tested
// here on one Redis, where its BLPOPs per marker behave as on the nodes
// of a cluster; internal/topologytest runs a worker on a real cluster.

// TestPerQueueIdleAndWake: a server fetching queue by queue (PerQueue)
// waits on the markers of its three queues with one BLPOP each, sends no
// fetch while no task arrives, and a task in any queue wakes it (the
// fallback is a minute) for one round of probes, at most three fetches,
// and the empty round after it (one more round allowed on a loaded machine).
func TestPerQueueIdleAndWake(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	queues := map[string]int{"a": 3, "b": 2, "c": 1}
	ws := startWaitingHow(t, redisSrv.Addr(), queues, WaiterOptions{Fallback: time.Minute, MaxWait: 100 * time.Millisecond}, true)
	testutil.Poll(t, 30*time.Second, "the blocking waits on the three markers", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= 3
	})
	fetches := redistest.CommandCalls(t, ws.rdb, "rpoplpush")
	blpops := redistest.CommandCalls(t, ws.rdb, "blpop")
	testutil.Poll(t, 30*time.Second, "five more waits on each marker", func() bool {
		return redistest.CommandCalls(t, ws.rdb, "blpop") >= blpops+15
	})
	if got := redistest.CommandCalls(t, ws.rdb, "rpoplpush"); got != fetches {
		t.Fatalf("an idle server waiting per queue fetched %d times; want 0", got-fetches)
	}
	for i, q := range []string{"c", "a", "b"} {
		fetches := redistest.CommandCalls(t, ws.rdb, "rpoplpush")
		id := "t" + q
		call := NewEnqueueCall(1, 0)
		e := Prepare(time.Now(), &Task{Type: "x", ID: id, Queue: q}, "n"+q)
		call.Add(&e)
		if _, _, err := RunEnqueue(t.Context(), ws.rdb, call, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		ws.waitDone(t, id, 30*time.Second)
		testutil.Poll(t, 30*time.Second, "the empty round after the task", func() bool {
			return redistest.CommandCalls(t, ws.rdb, "rpoplpush")-fetches >= 4
		})
		// One RPOPLPUSH per queue probed: the round that found the task,
		// then the empty round that made the server wait again, and on a
		// loaded machine one more round when a 100 ms wait ran out while
		// the server was busy: a bounded count, not a poll.
		if got := redistest.CommandCalls(t, ws.rdb, "rpoplpush") - fetches; got < 1 || got > 9 {
			t.Fatalf("task %d (queue %s): %d fetches; want the round its token caused and the empty round after (at most 9)", i+1, q, got)
		}
	}
}

// TestSpreadWaitHandsBackLateTokens: a wait on two markers ends with the
// first token; a token the other marker's BLPOP, still blocked, pops
// after that wait is pushed back to its marker for another server; a
// second server's wait gets it.
func TestSpreadWaitHandsBackLateTokens(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	defer rdb.Close()
	ctx := t.Context()
	w := NewWaiter(redis.NewClient(&redis.Options{Addr: redisSrv.Addr(), MaxRetries: -1}), WaiterOptions{MaxWait: 30 * time.Second})
	defer w.Stop()
	keys := []string{WakeKey("x"), WakeKey("y")}
	s := newSpreadWait(w, keys)
	type result struct{ woke, failed bool }
	done := make(chan result, 1)
	go func() {
		woke, failed := s.wait(30 * time.Second)
		done <- result{woke, failed}
	}()
	testutil.Poll(t, 30*time.Second, "a BLPOP on each marker", func() bool {
		return redistest.CommandCalls(t, rdb, "blpop") >= 2
	})
	if err := rdb.LPush(ctx, keys[1], "1").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !r.woke || r.failed {
			t.Fatalf("wait: woke %v, failed %v; want woken by the token", r.woke, r.failed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the token did not end the wait")
	}
	// No wait is in progress; the BLPOP on x still is.
	blpops := redistest.CommandCalls(t, rdb, "blpop")
	if err := rdb.LPush(ctx, keys[0], "1").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the late token popped and pushed back", func() bool {
		s.mu.Lock()
		blocked := s.blocked[keys[0]]
		s.mu.Unlock()
		return !blocked && rdb.LLen(ctx, keys[0]).Val() == 1
	})
	if got := redistest.CommandCalls(t, rdb, "blpop"); got != blpops {
		t.Fatalf("%d BLPOPs sent after the wait ended; want none (the one in progress is not sent again)", got-blpops)
	}
	// Another server's wait takes the token at once.
	other := newSpreadWait(w, keys)
	if woke, failed := other.wait(30 * time.Second); !woke || failed {
		t.Fatalf("a second server's wait: woke %v, failed %v; want the token handed back", woke, failed)
	}
}

// TestSpreadWaitStop: Stop ends a wait per queue at once.
func TestSpreadWaitStop(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	defer rdb.Close()
	w := NewWaiter(redis.NewClient(&redis.Options{Addr: redisSrv.Addr(), MaxRetries: -1}), WaiterOptions{MaxWait: time.Minute})
	s := newSpreadWait(w, []string{WakeKey("x"), WakeKey("y"), WakeKey("z")})
	done := make(chan bool, 1)
	go func() {
		woke, failed := s.wait(time.Minute)
		done <- woke || failed
	}()
	testutil.Poll(t, 30*time.Second, "a BLPOP on each marker", func() bool {
		return redistest.CommandCalls(t, rdb, "blpop") >= 3
	})
	start := time.Now()
	w.Stop()
	select {
	case ended := <-done:
		if ended {
			t.Fatal("a stopped wait reported a token or a failure; want neither")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not end the wait")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop ended the wait after %s; want at once", d)
	}
}
