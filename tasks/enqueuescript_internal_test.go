package tasks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// scriptClient returns a Client on a fresh Redis and a plain go-redis
// client to look at what the scripts stored.
func scriptClient(t *testing.T) (*Client, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c, err := NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return c, rdb
}

// wireFor prepares an enqueue of opts as Enqueue does.
func wireFor(t *testing.T, c *Client, typ string, payload []byte, opts EnqueueOptions) wireTask {
	t.Helper()
	r, err := c.prepare(context.Background(), typ, payload, &opts, cryptoRand)
	if err != nil {
		t.Fatal(err)
	}
	return r.wire(time.Now(), cryptoRand)
}

// storeOne runs the enqueue script for w alone, with the script deadline
// scriptMS.
func storeOne(c *Client, w wireTask, scriptMS int64) reply {
	return c.storeTasks(context.Background(), []wireTask{w}, scriptMS)[0]
}

// scriptCases are the four scripts' cases.
var scriptCases = []struct {
	name       string
	opts       EnqueueOptions
	list       string // where the ID lands
	scheduled  bool
	uniqueLock bool
}{
	{"enqueue", EnqueueOptions{}, "asynq:{default}:pending", false, false},
	{"enqueue unique", EnqueueOptions{UniqueTTL: time.Hour}, "asynq:{default}:pending", false, true},
	{"schedule", EnqueueOptions{ProcessIn: time.Hour}, "asynq:{default}:scheduled", true, false},
	{"schedule unique", EnqueueOptions{ProcessIn: time.Hour, UniqueTTL: time.Hour}, "asynq:{default}:scheduled", true, true},
}

// listed returns how many times id is in the pending list or scheduled
// set key.
func listed(t *testing.T, rdb *redis.Client, key, id string, scheduled bool) int {
	t.Helper()
	ctx := context.Background()
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
// second send reports the task its first send stored, with the same
// TaskInfo, and stores nothing more. Another call with the same task ID (a
// new nonce) is an ID conflict, and checks the ID before taking a unique
// task's lock.
func TestEnqueueScriptResend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, rdb := scriptClient(t)
	future := time.Now().Add(time.Hour).UnixMilli()
	for i, sc := range scriptCases {
		opts := sc.opts
		opts.TaskID = "resend-" + string(rune('a'+i))
		payload := []byte(sc.name)
		w := wireFor(t, c, "resend:x", payload, opts)
		var first *TaskInfo
		for send, want := range []int64{replyStored, replyResent} {
			r := storeOne(c, w, future)
			if r.err != nil || r.n != want {
				t.Fatalf("%s, send %d: reply %d, %v; want %d", sc.name, send, r.n, r.err, want)
			}
			info, err := w.outcome(r, deadline{}, 0)
			if err != nil {
				t.Fatalf("%s, send %d: %v", sc.name, send, err)
			}
			if first == nil {
				first = info
			} else if info.TaskInfo != first.TaskInfo || info.ID != opts.TaskID {
				t.Fatalf("%s: re-send answered %+v; want the first send's %+v", sc.name, info.TaskInfo, first.TaskInfo)
			}
		}
		if n := listed(t, rdb, sc.list, opts.TaskID, sc.scheduled); n != 1 {
			t.Fatalf("%s: task listed %d times in %s; want once", sc.name, n, sc.list)
		}
		key := taskKey("default", opts.TaskID)
		if got := rdb.HGet(ctx, key, enqueueField).Val(); got != w.args[1] || len(got) != 2*nonceByteSize {
			t.Fatalf("%s: %s = %q; want the call's nonce %q", sc.name, enqueueField, got, w.args[1])
		}

		// The same ID from another call: a conflict, even for a payload
		// whose uniqueness lock is free, and the lock stays free.
		other := wireFor(t, c, "resend:x", []byte("other "+sc.name), opts)
		if _, oerr := other.outcome(storeOne(c, other, future), deadline{}, 0); !errors.Is(oerr, asynq.ErrTaskIDConflict) ||
			oerr.Error() != `tasks: enqueue "resend:x": task ID conflicts with another task` {
			t.Fatalf("%s: same ID, new nonce: %v; want ErrTaskIDConflict", sc.name, oerr)
		}
		if sc.uniqueLock {
			lock := uniqueKey("default", "resend:x", []byte("other "+sc.name))
			if rdb.Exists(ctx, lock).Val() != 0 {
				t.Fatalf("%s: an ID conflict left the uniqueness lock %s behind", sc.name, lock)
			}
			// A new ID with the locked payload: a duplicate.
			dup := wireFor(t, c, "resend:x", payload, EnqueueOptions{UniqueTTL: time.Hour, ProcessIn: sc.opts.ProcessIn})
			if _, derr := dup.outcome(storeOne(c, dup, future), deadline{}, 0); !errors.Is(derr, asynq.ErrDuplicateTask) {
				t.Fatalf("%s: equal unique task: %v; want ErrDuplicateTask", sc.name, derr)
			}
		}
	}
	pending, scheduled := rdb.LLen(ctx, "asynq:{default}:pending").Val(), rdb.ZCard(ctx, "asynq:{default}:scheduled").Val()
	if pending != 2 || scheduled != 2 {
		t.Errorf("%d pending and %d scheduled tasks; want 2 and 2", pending, scheduled)
	}
}

// TestEnqueueScriptLate runs each script after its deadline, as Redis does
// with a command that waited out a freeze: nothing is stored, no lock is
// taken, and the enqueue fails with ErrEnqueueTimeout.
func TestEnqueueScriptLate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, rdb := scriptClient(t)
	past := time.Now().Add(-time.Second).UnixMilli()
	d := deadline{at: time.Now().Add(time.Hour), within: 2 * time.Second, scriptMS: past}
	for _, sc := range scriptCases {
		opts := sc.opts
		opts.TaskID = "late-1"
		w := wireFor(t, c, "late:x", []byte(sc.name), opts)
		r := storeOne(c, w, past)
		if r.err != nil || r.n != replyTooLate {
			t.Fatalf("%s: reply %d, %v; want %d", sc.name, r.n, r.err, replyTooLate)
		}
		_, err := w.outcome(r, d, 0)
		const want = `tasks: enqueue "late:x" as task late-1: no reply from Redis within 2s: the task was not stored; ` +
			`enqueueing again with the same task ID cannot duplicate it: the command ran in Redis after its deadline and stored nothing`
		if !errors.Is(err, ErrEnqueueTimeout) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != want {
			t.Fatalf("%s: err\n got %v\nwant %s", sc.name, err, want)
		}
		if rdb.Exists(ctx, taskKey("default", "late-1"), uniqueKey("default", "late:x", []byte(sc.name))).Val() != 0 {
			t.Fatalf("%s: a late script stored the task or its lock", sc.name)
		}
	}
	if n := rdb.LLen(ctx, "asynq:{default}:pending").Val() + rdb.ZCard(ctx, "asynq:{default}:scheduled").Val(); n != 0 {
		t.Fatalf("%d tasks listed; want none", n)
	}
}

// TestEnqueueScriptBatch runs the script for tasks of every kind in one
// call, as EnqueueMany does for a pipeline: each is stored; the same call
// again (a re-send) answers 2 for each and stores nothing more; and the
// call run late stores nothing.
func TestEnqueueScriptBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, rdb := scriptClient(t)
	var ts []wireTask
	for i, sc := range scriptCases {
		opts := sc.opts
		opts.TaskID = "batch-" + string(rune('a'+i))
		ts = append(ts, wireFor(t, c, "batch:x", []byte(sc.name), opts))
	}
	// Two tasks with one ID in the same call: the second is a conflict.
	ts = append(ts, wireFor(t, c, "batch:x", []byte("same ID"), EnqueueOptions{TaskID: "batch-a"}))
	late := c.storeTasks(ctx, ts, time.Now().Add(-time.Second).UnixMilli())
	for send, want := range [][]int64{
		{replyStored, replyStored, replyStored, replyStored, replyIDTaken},
		{replyResent, replyResent, replyResent, replyResent, replyIDTaken},
	} {
		for i, r := range c.storeTasks(ctx, ts, time.Now().Add(time.Hour).UnixMilli()) {
			if r.err != nil || r.n != want[i] {
				t.Fatalf("send %d, task %d: %d, %v; want %d", send, i, r.n, r.err, want[i])
			}
		}
	}
	for i, r := range late {
		if r.err != nil || r.n != replyTooLate {
			t.Fatalf("late call, task %d: %d, %v; want %d", i, r.n, r.err, replyTooLate)
		}
	}
	pending, scheduled := rdb.LLen(ctx, "asynq:{default}:pending").Val(), rdb.ZCard(ctx, "asynq:{default}:scheduled").Val()
	if pending != 2 || scheduled != 2 {
		t.Errorf("%d pending and %d scheduled tasks; want 2 and 2", pending, scheduled)
	}
}

// ownConnOpt is a RedisConnOpt of a user's own.
type ownConnOpt struct{ asynq.RedisClientOpt }

func (o ownConnOpt) MakeRedisClient() any { return o.RedisClientOpt.MakeRedisClient() }

// TestNewClientHonoursContext checks which clients bound their waits by
// the context's deadline (ContextTimeoutEnabled), so that Enqueue needs no
// goroutine of its own: those NewClient builds for asynq's RedisConnOpt
// types, and not those a RedisConnOpt of one's own makes without it.
func TestNewClientHonoursContext(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opt  asynq.RedisConnOpt
		want bool
	}{
		{asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, true},
		{&asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, true},
		{asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}}, true},
		{asynq.RedisClusterClientOpt{Addrs: []string{"127.0.0.1:1"}}, true},
		{ownConnOpt{asynq.RedisClientOpt{Addr: "127.0.0.1:1"}}, false},
	} {
		c, err := NewClient(tt.opt, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.ctxTimeouts != tt.want {
			t.Errorf("%T: honours context deadlines %t; want %t", tt.opt, c.ctxTimeouts, tt.want)
		}
		_ = c.Close()
	}
}
