package asynqrdb

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

func uniqueRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, srv.Addr()
}

// enqueueOne runs the enqueue script for one task and returns its answer.
func enqueueOne(t *testing.T, rdb redis.UniversalClient, task Task) int64 {
	t.Helper()
	e := Prepare(time.Now(), &task, NewNonce(func(b []byte) { _, _ = rand.Read(b) }))
	call := NewEnqueueCall(1, 0)
	call.Add(&e)
	ns, _, err := RunEnqueue(t.Context(), rdb, call, RunOptions{})
	if err != nil {
		t.Fatalf("RunEnqueue: %v", err)
	}
	return ns[0]
}

// TestUniqueUntilEndLock: a lock that lasts until the task ends refuses
// an equal task while the holder is in any state before its end, and is
// taken over once the holder completed, was archived or is gone.
func TestUniqueUntilEndLock(t *testing.T) {
	t.Parallel()
	rdb, _ := uniqueRedis(t)
	ctx := t.Context()
	lock := CallerUniqueKey("default", "order-42")
	first := Task{Type: "u:a", Payload: []byte(`{"n":1}`), ID: "first", UniqueKey: "order-42"}
	if n := enqueueOne(t, rdb, first); n != ReplyStored {
		t.Fatalf("first enqueue answered %d; want %d", n, ReplyStored)
	}
	if ttl := rdb.PTTL(ctx, lock).Val(); ttl != -1 {
		t.Fatalf("lock PTTL = %v; want -1 (no expiry)", ttl)
	}
	if got := rdb.HGet(ctx, TaskKey("default", "first"), "unique_key").Val(); got != lock {
		t.Fatalf("unique_key field = %q; want %q", got, lock)
	}
	// Another type and payload with the same key is the same task.
	second := Task{Type: "u:b", Payload: []byte(`{"n":2}`), ID: "second", UniqueKey: "order-42"}
	for _, state := range []string{"pending", "scheduled", "active", "retry", "aggregating"} {
		rdb.HSet(ctx, TaskKey("default", "first"), "state", state)
		if n := enqueueOne(t, rdb, second); n != ReplyDupe {
			t.Fatalf("holder %s: equal enqueue answered %d; want %d (duplicate)", state, n, ReplyDupe)
		}
	}
	// The same key in another queue is another lock.
	other := second
	other.Queue, other.ID = "other", "other-1"
	if n := enqueueOne(t, rdb, other); n != ReplyStored {
		t.Fatalf("other queue answered %d; want %d", n, ReplyStored)
	}
	for i, end := range []func(){
		func() { rdb.HSet(ctx, TaskKey("default", "first"), "state", "completed") },
		func() { rdb.HSet(ctx, TaskKey("default", "second"), "state", "archived") },
		func() { rdb.Del(ctx, TaskKey("default", "third")) },
	} {
		end()
		next := Task{Type: "u:a", ID: []string{"second", "third", "fourth"}[i], UniqueKey: "order-42"}
		if n := enqueueOne(t, rdb, next); n != ReplyStored {
			t.Fatalf("after end %d: enqueue answered %d; want %d (lock taken over)", i, n, ReplyStored)
		}
		if got := rdb.Get(ctx, lock).Val(); got != next.ID {
			t.Fatalf("after end %d: lock holds %q; want %q", i, got, next.ID)
		}
	}
}

// TestUniqueUntilEndDigest: without a key, the lock is asynq's digest of
// type and payload; a TTL lock (asynq's Unique) under that key refuses
// until it expires, and an until-end lock refuses a TTL enqueue.
func TestUniqueUntilEndDigest(t *testing.T) {
	t.Parallel()
	rdb, _ := uniqueRedis(t)
	ctx := t.Context()
	a := Task{Type: "u:d", Payload: []byte("p"), ID: "a", UniqueUntilEnd: true}
	if n := enqueueOne(t, rdb, a); n != ReplyStored {
		t.Fatalf("answered %d", n)
	}
	if got := rdb.Get(ctx, UniqueKey("default", "u:d", []byte("p"))).Val(); got != "a" {
		t.Fatalf("digest lock holds %q; want a", got)
	}
	if n := enqueueOne(t, rdb, Task{Type: "u:d", Payload: []byte("p"), ID: "b", UniqueTTL: time.Hour}); n != ReplyDupe {
		t.Fatalf("TTL enqueue against an until-end lock answered %d; want %d", n, ReplyDupe)
	}
	if n := enqueueOne(t, rdb, Task{Type: "u:d", Payload: []byte("q"), ID: "c", UniqueUntilEnd: true}); n != ReplyStored {
		t.Fatalf("other payload answered %d; want stored", n)
	}
	// A TTL lock whose task is gone still holds for its TTL.
	if n := enqueueOne(t, rdb, Task{Type: "u:t", ID: "t1", UniqueTTL: time.Hour}); n != ReplyStored {
		t.Fatalf("answered %d", n)
	}
	rdb.Del(ctx, TaskKey("default", "t1"))
	if n := enqueueOne(t, rdb, Task{Type: "u:t", ID: "t2", UniqueUntilEnd: true}); n != ReplyDupe {
		t.Fatalf("until-end enqueue against a TTL lock answered %d; want %d", n, ReplyDupe)
	}
	// Scheduled: the lock has no TTL either.
	s := Task{Type: "u:s", ID: "s1", UniqueKey: "k", ProcessAt: time.Now().Add(time.Hour)}
	if n := enqueueOne(t, rdb, s); n != ReplyStored {
		t.Fatalf("answered %d", n)
	}
	if ttl := rdb.PTTL(ctx, CallerUniqueKey("default", "k")).Val(); ttl != -1 {
		t.Fatalf("scheduled lock PTTL = %v; want -1", ttl)
	}
	if st := rdb.HGet(ctx, TaskKey("default", "s1"), "state").Val(); st != "scheduled" {
		t.Fatalf("state %q", st)
	}
}

// TestUniqueUntilEndConcurrent: 50 equal enqueues at once store one task.
func TestUniqueUntilEndConcurrent(t *testing.T) {
	t.Parallel()
	rdb, _ := uniqueRedis(t)
	var wg sync.WaitGroup
	answers := make([]int64, 50)
	for i := range answers {
		wg.Go(func() {
			answers[i] = enqueueOne(t, rdb, Task{Type: "u:c", ID: "c" + string(rune('A'+i)), UniqueKey: "same"})
		})
	}
	wg.Wait()
	stored := 0
	for _, n := range answers {
		switch n {
		case ReplyStored:
			stored++
		case ReplyDupe:
		default:
			t.Fatalf("answer %d", n)
		}
	}
	if n := rdb.LLen(t.Context(), PendingKey("default")).Val(); stored != 1 || n != 1 {
		t.Fatalf("%d stored, %d pending; want exactly 1", stored, n)
	}
}

// TestArchiveReleasesUntilEndLock: an asynq server through ServerClient
// that archives a task (SkipRetry) releases its until-end lock in the
// archive script, and leaves a TTL lock alone (asynq's Unique); completion
// releases through asynq's own done script.
func TestArchiveReleasesUntilEndLock(t *testing.T) {
	t.Parallel()
	for _, batched := range []bool{false, true} {
		rdb, _ := uniqueRedis(t)
		ctx := t.Context()
		var batch *ScriptBatcher
		if batched {
			batch = NewScriptBatcher(rdb)
		}
		done := make(chan string, 10)
		srv := asynq.NewServerFromRedisClient(NewServerClient(rdb, nil, batch), asynq.Config{
			Concurrency: 2, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
		})
		if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			defer func() { done <- id }()
			if task.Type() == "u:ok" {
				return nil
			}
			return errors.Join(errors.New("no"), asynq.SkipRetry)
		})); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		for _, task := range []Task{
			{Type: "u:skip", ID: "k1", UniqueKey: "k1"},
			{Type: "u:skip", ID: "t1", UniqueKey: "t1", UniqueTTL: time.Hour},
			{Type: "u:ok", ID: "ok1", UniqueKey: "ok1"},
		} {
			if n := enqueueOne(t, rdb, task); n != ReplyStored {
				t.Fatalf("answered %d", n)
			}
		}
		testutil.Poll(t, 30*time.Second, "three tasks ended", func() bool {
			return rdb.ZCard(ctx, ArchivedKey("default")).Val() == 2 && rdb.LLen(ctx, ActiveKey("default")).Val() == 0 &&
				rdb.Exists(ctx, TaskKey("default", "ok1")).Val() == 0
		})
		if n := rdb.Exists(ctx, CallerUniqueKey("default", "k1")).Val(); n != 0 {
			t.Errorf("batched=%v: the until-end lock of an archived task is still there", batched)
		}
		if n := rdb.Exists(ctx, CallerUniqueKey("default", "ok1")).Val(); n != 0 {
			t.Errorf("batched=%v: the until-end lock of a completed task is still there", batched)
		}
		if got := rdb.Get(ctx, CallerUniqueKey("default", "t1")).Val(); got != "t1" {
			t.Errorf("batched=%v: the TTL lock of an archived task = %q; want it kept (asynq's Unique)", batched, got)
		}
	}
}

// TestArchiveScriptIsAsynqs: a bare asynq server archiving a task runs
// asynqArchiveScript, which ServerClient recognizes by SHA-1.
func TestArchiveScriptIsAsynqs(t *testing.T) {
	t.Parallel()
	_, addr := uniqueRedis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("arch:x", nil), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	server := asynq.NewServer(opt, asynq.Config{Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := server.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return errors.New("fail")
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	testutil.Poll(t, 30*time.Second, "the task archived", func() bool {
		return rdb.ZCard(t.Context(), ArchivedKey("default")).Val() == 1
	})
	ok, err := rdb.ScriptExists(t.Context(), sha1Hex(asynqArchiveScript)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !ok[0] {
		t.Fatal("asynqArchiveScript is not the script asynq runs to archive: update it from asynq's internal/rdb/rdb.go")
	}
}

// TestCancelSubscriptionDiverted: an asynq server through ServerClient
// does not hear asynq's cancel channel, so Inspector.CancelProcessing does
// not end its context (the worker handles that channel itself).
func TestCancelSubscriptionDiverted(t *testing.T) {
	t.Parallel()
	rdb, addr := uniqueRedis(t)
	ctx := t.Context()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ended := make(chan error, 1)
	srv := asynq.NewServerFromRedisClient(NewServerClient(rdb, nil, nil), asynq.Config{
		Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
		case <-release:
			ended <- nil
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	testutil.Poll(t, 30*time.Second, "asynq subscribed to the diverted channel", func() bool {
		m := rdb.PubSubNumSub(ctx, DivertedCancelChannel, CancelChannel).Val()
		return m[DivertedCancelChannel] == 1 && m[CancelChannel] == 0
	})
	if n := enqueueOne(t, rdb, Task{Type: "c:x", ID: "c1"}); n != ReplyStored {
		t.Fatalf("answered %d", n)
	}
	<-started
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	defer insp.Close()
	if err := insp.CancelProcessing("c1"); err != nil {
		t.Fatal(err)
	}
	// The publish reached nobody; the processor runs on until released.
	close(release)
	if err := <-ended; err != nil {
		t.Fatalf("the task's context ended with %v; want it untouched by asynq's cancel channel", err)
	}
}

// TestRetryScriptIsAsynqs: a bare asynq server retrying a task runs
// asynqRetryScript, which ServerClient recognizes by SHA-1 to end a task
// cancelled on request.
func TestRetryScriptIsAsynqs(t *testing.T) {
	t.Parallel()
	_, addr := uniqueRedis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("retry:x", nil), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}
	server := asynq.NewServer(opt, asynq.Config{Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	if err := server.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return errors.New("fail")
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	testutil.Poll(t, 30*time.Second, "the task in retry", func() bool {
		return rdb.ZCard(t.Context(), RetryKey("default")).Val() == 1
	})
	ok, err := rdb.ScriptExists(t.Context(), sha1Hex(asynqRetryScript)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !ok[0] {
		t.Fatal("asynqRetryScript is not the script asynq runs to retry: update it from asynq's internal/rdb/rdb.go")
	}
}

// TestWithErrorMsg: the task record keeps every field but error_msg.
func TestWithErrorMsg(t *testing.T) {
	t.Parallel()
	m := TaskMessage{Type: "a:b", Payload: []byte("p"), ID: "i", Queue: "q", Retry: 3, Headers: map[string]string{"h": "v"}}
	b := m.AppendProto(nil)
	b = protowireAppendErr(b, "context canceled")
	got := withErrorMsg(b, CancelledError)
	want := protowireAppendErr(m.AppendProto(nil), CancelledError)
	if string(got) != string(want) {
		t.Fatalf("withErrorMsg = %x; want %x", got, want)
	}
}

func protowireAppendErr(b []byte, s string) []byte { return appendStringField(b, fieldErrorMsg, s) }
