package asynqrdb_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/redistest"
)

// scriptRedis returns a plain go-redis client on a fresh Redis.
func scriptRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func randFill(b []byte) { _, _ = rand.Read(b) }

// prepare lays t out with a new nonce, as one enqueue call does.
func prepare(t asynqrdb.Task) asynqrdb.Enqueue {
	return asynqrdb.Prepare(time.Now(), &t, asynqrdb.NewNonce(randFill))
}

// run runs the enqueue script for es in one call with the deadline
// deadlineMS and returns each task's answer.
func run(t *testing.T, rdb redis.UniversalClient, deadlineMS int64, es ...asynqrdb.Enqueue) []int64 {
	t.Helper()
	call := asynqrdb.NewEnqueueCall(len(es), deadlineMS)
	for i := range es {
		call.Add(&es[i])
	}
	ns, replicas, err := asynqrdb.RunEnqueue(t.Context(), rdb, call, asynqrdb.RunOptions{})
	if err != nil || len(ns) != len(es) || replicas != -1 {
		t.Fatalf("RunEnqueue: %v, %d replicas, %v; want %d answers, -1 replicas", ns, replicas, err, len(es))
	}
	return ns
}

// scriptCases are the four scripts' cases.
var scriptCases = []struct {
	name       string
	task       asynqrdb.Task
	list       string // where the ID lands
	scheduled  bool
	uniqueLock bool
}{
	{"enqueue", asynqrdb.Task{}, asynqrdb.PendingKey("default"), false, false},
	{"enqueue unique", asynqrdb.Task{UniqueTTL: time.Hour}, asynqrdb.PendingKey("default"), false, true},
	{"schedule", asynqrdb.Task{ProcessAt: time.Now().Add(time.Hour)}, asynqrdb.ScheduledKey("default"), true, false},
	{"schedule unique", asynqrdb.Task{ProcessAt: time.Now().Add(time.Hour), UniqueTTL: time.Hour}, asynqrdb.ScheduledKey("default"), true, true},
}

// listed returns how many times id is in the pending list or scheduled
// set key.
func listed(t *testing.T, rdb *redis.Client, key, id string, scheduled bool) int {
	t.Helper()
	ctx := t.Context()
	if scheduled {
		if err := rdb.ZScore(ctx, key, id).Err(); errors.Is(err, redis.Nil) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		return 1
	}
	n := 0
	for _, v := range rdb.LRange(ctx, key, 0, -1).Val() {
		if v == id {
			n++
		}
	}
	return n
}

// TestEnqueueScriptResend runs the same prepared call twice, as a
// re-send of go-redis (or of the client after a lost reply) does: the
// second send answers ReplyResent and stores nothing more. Another call
// with the same task ID (a new nonce) is an ID conflict, and checks the ID
// before taking a unique task's lock.
func TestEnqueueScriptResend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := scriptRedis(t)
	future := time.Now().Add(time.Hour).UnixMilli()
	for i, sc := range scriptCases {
		task := sc.task
		task.Type, task.ID, task.Payload = "resend:x", fmt.Sprintf("resend-%c", 'a'+i), []byte(sc.name)
		e := prepare(task)
		for send, want := range []int64{asynqrdb.ReplyStored, asynqrdb.ReplyResent} {
			if got := run(t, rdb, future, e)[0]; got != want {
				t.Fatalf("%s, send %d: reply %d; want %d", sc.name, send, got, want)
			}
		}
		if n := listed(t, rdb, sc.list, task.ID, sc.scheduled); n != 1 {
			t.Fatalf("%s: task listed %d times in %s; want once", sc.name, n, sc.list)
		}
		key := asynqrdb.TaskKey("default", task.ID)
		if got := rdb.HGet(ctx, key, asynqrdb.EnqueueField).Val(); got != e.Args[1] || len(got) != 2*asynqrdb.NonceSize {
			t.Fatalf("%s: %s = %q; want the call's nonce %q", sc.name, asynqrdb.EnqueueField, got, e.Args[1])
		}

		// The same ID from another call: a conflict, even for a payload
		// whose uniqueness lock is free, and the lock stays free.
		other := task
		other.Payload = []byte("other " + sc.name)
		if got := run(t, rdb, future, prepare(other))[0]; got != asynqrdb.ReplyIDTaken {
			t.Fatalf("%s: same ID, new nonce: reply %d; want ReplyIDTaken", sc.name, got)
		}
		if sc.uniqueLock {
			lock := asynqrdb.UniqueKey("default", "resend:x", other.Payload)
			if rdb.Exists(ctx, lock).Val() != 0 {
				t.Fatalf("%s: an ID conflict left the uniqueness lock %s behind", sc.name, lock)
			}
			// A new ID with the locked payload: a duplicate.
			dup := task
			dup.ID = task.ID + "-dup"
			if got := run(t, rdb, future, prepare(dup))[0]; got != asynqrdb.ReplyDupe {
				t.Fatalf("%s: equal unique task: reply %d; want ReplyDupe", sc.name, got)
			}
		}
	}
	pending, scheduled := rdb.LLen(ctx, asynqrdb.PendingKey("default")).Val(), rdb.ZCard(ctx, asynqrdb.ScheduledKey("default")).Val()
	if pending != 2 || scheduled != 2 {
		t.Errorf("%d pending and %d scheduled tasks; want 2 and 2", pending, scheduled)
	}
}

// TestEnqueueScriptLate runs each script after its deadline, as Redis does
// with a command that waited out a freeze: nothing is stored and no lock is
// taken.
func TestEnqueueScriptLate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := scriptRedis(t)
	past := time.Now().Add(-time.Second).UnixMilli()
	for _, sc := range scriptCases {
		task := sc.task
		task.Type, task.ID, task.Payload = "late:x", "late-1", []byte(sc.name)
		if got := run(t, rdb, past, prepare(task))[0]; got != asynqrdb.ReplyTooLate {
			t.Fatalf("%s: reply %d; want ReplyTooLate", sc.name, got)
		}
		if rdb.Exists(ctx, asynqrdb.TaskKey("default", "late-1"), asynqrdb.UniqueKey("default", "late:x", task.Payload)).Val() != 0 {
			t.Fatalf("%s: a late script stored the task or its lock", sc.name)
		}
	}
	if n := rdb.LLen(ctx, asynqrdb.PendingKey("default")).Val() + rdb.ZCard(ctx, asynqrdb.ScheduledKey("default")).Val(); n != 0 {
		t.Fatalf("%d tasks listed; want none", n)
	}
}

// TestEnqueueScriptBatch runs the script for tasks of every kind in one
// call, as EnqueueMany does for a pipeline: each is stored; the same call
// again (a re-send) answers ReplyResent for each and stores nothing more;
// and the call run late stores nothing.
func TestEnqueueScriptBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := scriptRedis(t)
	var es []asynqrdb.Enqueue
	for i, sc := range scriptCases {
		task := sc.task
		task.Type, task.ID, task.Payload = "batch:x", fmt.Sprintf("batch-%c", 'a'+i), []byte(sc.name)
		es = append(es, prepare(task))
	}
	// Two tasks with one ID in the same call: the second is a conflict.
	es = append(es, prepare(asynqrdb.Task{Type: "batch:x", ID: "batch-a", Payload: []byte("same ID")}))
	late := run(t, rdb, time.Now().Add(-time.Second).UnixMilli(), es...)
	for send, want := range [][]int64{
		{asynqrdb.ReplyStored, asynqrdb.ReplyStored, asynqrdb.ReplyStored, asynqrdb.ReplyStored, asynqrdb.ReplyIDTaken},
		{asynqrdb.ReplyResent, asynqrdb.ReplyResent, asynqrdb.ReplyResent, asynqrdb.ReplyResent, asynqrdb.ReplyIDTaken},
	} {
		for i, got := range run(t, rdb, time.Now().Add(time.Hour).UnixMilli(), es...) {
			if got != want[i] {
				t.Fatalf("send %d, task %d: %d; want %d", send, i, got, want[i])
			}
		}
	}
	for i, got := range late {
		if got != asynqrdb.ReplyTooLate {
			t.Fatalf("late call, task %d: %d; want ReplyTooLate", i, got)
		}
	}
	pending, scheduled := rdb.LLen(ctx, asynqrdb.PendingKey("default")).Val(), rdb.ZCard(ctx, asynqrdb.ScheduledKey("default")).Val()
	if pending != 2 || scheduled != 2 {
		t.Errorf("%d pending and %d scheduled tasks; want 2 and 2", pending, scheduled)
	}
}

// TestPrepareMatchesAsynq stores tasks with every option through Prepare
// and the enqueue script, and the same tasks through asynq's own client:
// asynq's Inspector reads back the same TaskInfo for both (the task record
// decodes as asynq's TaskMessage), equal to what Prepare returned, and the
// task hashes have the same fields, plus the nonce.
func TestPrepareMatchesAsynq(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := scriptRedis(t)
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	maxRetry := 3
	deadline := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	for i, tc := range []struct {
		task asynqrdb.Task
		opts []asynq.Option
	}{
		{asynqrdb.Task{Type: "m:plain", Payload: []byte(`{"n":1}`)}, nil},
		{asynqrdb.Task{Type: "m:nil"}, nil},
		{asynqrdb.Task{
			Type: "m:all", Payload: []byte("all"), Headers: map[string]string{"x-tenant": "7"}, Queue: "critical",
			MaxRetry: &maxRetry, Timeout: 90 * time.Second, Deadline: deadline, Retention: time.Hour,
		}, []asynq.Option{asynq.Queue("critical"), asynq.MaxRetry(3), asynq.Timeout(90 * time.Second), asynq.Deadline(deadline), asynq.Retention(time.Hour)}},
		{asynqrdb.Task{Type: "m:deadline", Payload: []byte("d"), Deadline: deadline}, []asynq.Option{asynq.Deadline(deadline)}},
		{asynqrdb.Task{Type: "m:unique", Payload: []byte("u"), UniqueTTL: time.Hour}, []asynq.Option{asynq.Unique(time.Hour)}},
		{asynqrdb.Task{Type: "m:unique-nil", UniqueTTL: time.Hour}, []asynq.Option{asynq.Unique(time.Hour)}},
		{asynqrdb.Task{Type: "m:at", Payload: []byte("at"), ProcessAt: at, UniqueTTL: time.Hour, Queue: "low"},
			[]asynq.Option{asynq.ProcessAt(at), asynq.Unique(time.Hour), asynq.Queue("low")}},
	} {
		ours := tc.task
		ours.ID = fmt.Sprintf("ours-%d", i)
		e := prepare(ours)
		if got := run(t, rdb, 0, e)[0]; got != asynqrdb.ReplyStored {
			t.Fatalf("%s: reply %d; want ReplyStored", ours.Type, got)
		}
		// asynq's own client stores the same task under another ID (and,
		// for a unique task, once our lock is gone).
		if ours.UniqueTTL > 0 {
			if err := rdb.Del(ctx, asynqrdb.UniqueKey(e.Info.Queue, ours.Type, ours.Payload)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		theirs, err := client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(ours.Type, ours.Payload, ours.Headers),
			append(tc.opts, asynq.TaskID(fmt.Sprintf("theirs-%d", i)))...)
		if err != nil {
			t.Fatalf("%s: asynq's client: %v", ours.Type, err)
		}
		read, err := insp.GetTaskInfo(e.Info.Queue, ours.ID)
		if err != nil {
			t.Fatalf("%s: the Inspector cannot read our task: %v", ours.Type, err)
		}
		readTheirs, err := insp.GetTaskInfo(theirs.Queue, theirs.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what         string
			ours, theirs any
		}{
			{"queue", read.Queue, readTheirs.Queue},
			{"type", read.Type, readTheirs.Type},
			{"payload", string(read.Payload), string(readTheirs.Payload)},
			{"headers", fmt.Sprint(read.Headers), fmt.Sprint(readTheirs.Headers)},
			{"state", read.State, readTheirs.State},
			{"max retry", read.MaxRetry, readTheirs.MaxRetry},
			{"timeout", read.Timeout, readTheirs.Timeout},
			{"deadline", read.Deadline, readTheirs.Deadline},
			{"retention", read.Retention, readTheirs.Retention},
			{"prepared state", e.Info.State, read.State},
			{"prepared max retry", e.Info.MaxRetry, read.MaxRetry},
			{"prepared timeout", e.Info.Timeout, read.Timeout},
			{"prepared deadline", e.Info.Deadline, read.Deadline},
			{"prepared queue", e.Info.Queue, read.Queue},
		} {
			if c.ours != c.theirs {
				t.Errorf("%s: %s: %v; want %v", ours.Type, c.what, c.ours, c.theirs)
			}
		}
		fields := rdb.HKeys(ctx, asynqrdb.TaskKey(e.Info.Queue, ours.ID)).Val()
		theirFields := rdb.HKeys(ctx, asynqrdb.TaskKey(theirs.Queue, theirs.ID)).Val()
		if fmt.Sprint(sorted(fields)) != fmt.Sprint(sorted(append(theirFields, asynqrdb.EnqueueField))) {
			t.Errorf("%s: task hash fields %v; asynq's %v plus %s", ours.Type, sorted(fields), sorted(theirFields), asynqrdb.EnqueueField)
		}
	}
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	slices.Sort(out)
	return out
}
