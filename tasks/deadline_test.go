package tasks_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// plainConnOpt makes asynq's go-redis client, without ContextTimeoutEnabled,
// as a RedisConnOpt of a user's own might.
type plainConnOpt struct{ asynq.RedisClientOpt }

// deadlineSlack is how late an enqueue against a frozen Redis may return
// after its deadline on a loaded machine (-race, 2 cores, parallel tests).
// Without the deadline it would not return before the thaw at all, so a
// generous bound still proves the deadline ended it; the error text says
// which deadline did.
const deadlineSlack = 5 * time.Second

func (o plainConnOpt) MakeRedisClient() any { return o.RedisClientOpt.MakeRedisClient() }

// TestEnqueueTimeoutDuringFreeze enqueues while Redis is frozen (SIGSTOP),
// with the default timeout, over internal/redisconn's connection, over the
// one NewClient builds for asynq's RedisClientOpt (both honour context
// deadlines), and over one that does not (a RedisConnOpt of one's own):
// the enqueue fails with ErrEnqueueTimeout at its 2s deadline; once Redis
// runs the command, late, it stores nothing; and the same enqueue again
// succeeds, once.
func TestEnqueueTimeoutDuringFreeze(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"redisconn", "asynq.RedisClientOpt", "own RedisConnOpt"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			srv := redistest.Start(t)
			var opt asynq.RedisConnOpt = asynq.RedisClientOpt{Addr: srv.Addr()}
			switch mode {
			case "redisconn":
				rc := config.Default().Redis
				rc.Addr = srv.Addr()
				var err error
				if opt, err = redisconn.ConnOpt(rc); err != nil {
					t.Fatal(err)
				}
			case "own RedisConnOpt":
				opt = plainConnOpt{asynq.RedisClientOpt{Addr: srv.Addr()}}
			}
			c, err := tasks.NewClient(opt, tasks.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			// Load the script and register the queue first.
			if _, err := c.Enqueue(ctx, "freeze:x", []byte("before"), nil); err != nil {
				t.Fatal(err)
			}
			calls := redistest.CommandCalls(t, rdb, "evalsha")

			thaw := srv.FreezeUntil(t)
			opts := &tasks.EnqueueOptions{TaskID: "frozen-1"}
			start := time.Now()
			_, err = c.Enqueue(ctx, "freeze:x", []byte("during"), opts)
			took := time.Since(start)
			// The command reached Redis, which did not answer: whether it
			// ran before the freeze cannot be known, so the error says so.
			const want = `tasks: enqueue "freeze:x" as task frozen-1: no reply from Redis within 2s: ` +
				`the task may have been stored; enqueue it again with the same task ID once Redis answers: ` +
				`it is stored at most once (a task ID conflict then means it was stored)`
			if !errors.Is(err, tasks.ErrEnqueueTimeout) || !errors.Is(err, tasks.ErrOutcomeUnknown) ||
				!errors.Is(err, context.DeadlineExceeded) || err.Error() != want {
				t.Errorf("enqueue during a freeze: err\n got %v\nwant %s", err, want)
			}
			if took < 2*time.Second-50*time.Millisecond || took > 2*time.Second+deadlineSlack {
				t.Errorf("enqueue during a freeze returned after %s; want 2s (at most %s more on a loaded machine)", took, deadlineSlack)
			}
			thaw()

			// Redis runs the command it received during the freeze, after
			// its deadline: it stores nothing.
			end := time.Now().Add(10 * time.Second)
			for redistest.CommandCalls(t, rdb, "evalsha") < calls+1 {
				if time.Now().After(end) {
					t.Fatal("Redis never ran the enqueue sent during the freeze")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if n := rdb.Exists(ctx, "asynq:{default}:t:frozen-1").Val(); n != 0 {
				t.Fatal("the timed-out enqueue was stored after all (a phantom)")
			}
			if _, err := c.Enqueue(ctx, "freeze:x", []byte("during"), opts); err != nil {
				t.Fatalf("same enqueue after the thaw: %v", err)
			}
			if _, err := c.Enqueue(ctx, "freeze:x", []byte("during"), opts); !errors.Is(err, asynq.ErrTaskIDConflict) {
				t.Fatalf("same enqueue a third time: %v; want ErrTaskIDConflict", err)
			}
			if n := rdb.LLen(ctx, "asynq:{default}:pending").Val(); n != 2 {
				t.Fatalf("%d pending tasks; want 2 (one before the freeze, one after)", n)
			}
		})
	}
}

// TestEnqueueManyTimeoutDuringFreeze sends a bulk enqueue while Redis is
// frozen, over internal/redisconn's connections: every task fails with
// ErrEnqueueTimeout at the deadline of its pipeline, none is stored once
// Redis has run the late commands, and the same requests again are stored
// once each.
func TestEnqueueManyTimeoutDuringFreeze(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rc := config.Default().Redis
	rc.Addr = srv.Addr()
	opt, err := redisconn.ConnOpt(rc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{EnqueueTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	reqs := make([]tasks.Request, 150) // three pipelines
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "freeze:many", Payload: []byte(strconv.Itoa(i)), Options: tasks.EnqueueOptions{TaskID: "m-" + strconv.Itoa(i)}}
	}
	if r := c.EnqueueMany(ctx, []tasks.Request{{Type: "freeze:many"}}, 0); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	calls := redistest.CommandCalls(t, rdb, "evalsha")
	thaw := srv.FreezeUntil(t)
	start := time.Now()
	res := c.EnqueueMany(ctx, reqs, 0)
	took := time.Since(start)
	thaw()
	if took > time.Second+deadlineSlack {
		t.Errorf("EnqueueMany during a freeze returned after %s; want about 1s (at most %s more on a loaded machine)", took, deadlineSlack)
	}
	for i, r := range res {
		want := `tasks: enqueue "freeze:many" as task m-` + strconv.Itoa(i) + `: no reply from Redis within 1s: ` +
			`the task may have been stored; enqueue it again with the same task ID once Redis answers: ` +
			`it is stored at most once (a task ID conflict then means it was stored)`
		if !errors.Is(r.Err, tasks.ErrOutcomeUnknown) || r.Err.Error() != want {
			t.Fatalf("task %d: %v; want %s", i, r.Err, want)
		}
	}
	// Once the client's connections are closed and Redis has seen them
	// close, it has run (or dropped) all that was sent on them.
	_ = c.Close()
	end := time.Now().Add(10 * time.Second)
	for {
		list, err := rdb.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(strings.TrimSpace(list), "\n") == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the client's connections are still open 10s after it closed:\n%s", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ran := redistest.CommandCalls(t, rdb, "evalsha") - calls; ran == 0 {
		t.Fatal("Redis ran none of the enqueues sent during the freeze; the test proves nothing")
	}
	if n := rdb.LLen(ctx, "asynq:{default}:pending").Val(); n != 1 {
		t.Fatalf("%d pending tasks after the thaw; want 1 (the one before the freeze)", n)
	}
	c, err = tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i, r := range c.EnqueueMany(ctx, reqs, 0) {
		if r.Err != nil {
			t.Fatalf("task %d again: %v", i, r.Err)
		}
	}
	if n := rdb.LLen(ctx, "asynq:{default}:pending").Val(); n != int64(1+len(reqs)) {
		t.Fatalf("%d pending tasks; want %d", n, 1+len(reqs))
	}
}

// TestEnqueueTimeoutOptions checks the deadline's sources: a context with
// an earlier deadline wins over EnqueueTimeout, and the error names the
// time the enqueue had.
func TestEnqueueTimeoutOptions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{EnqueueTimeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Enqueue(t.Context(), "t:x", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Thaw() }()
	for _, tt := range []struct {
		ctxTimeout time.Duration
		want       string
	}{
		{0, "700ms"},
		{300 * time.Millisecond, "300ms"},
	} {
		ctx, cancel := t.Context(), context.CancelFunc(func() {})
		if tt.ctxTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
		}
		start := time.Now()
		_, err := c.Enqueue(ctx, "t:x", nil, &tasks.EnqueueOptions{TaskID: "x"})
		took := time.Since(start)
		cancel()
		if !errors.Is(err, tasks.ErrEnqueueTimeout) || !strings.Contains(err.Error(), "no reply from Redis within "+tt.want+":") {
			t.Errorf("ctx timeout %s: %v; want ErrEnqueueTimeout after %s", tt.ctxTimeout, err, tt.want)
		}
		if d, _ := time.ParseDuration(tt.want); took < d-50*time.Millisecond || took > d+deadlineSlack {
			t.Errorf("ctx timeout %s: returned after %s; want about %s", tt.ctxTimeout, took, tt.want)
		}
	}
}

// TestEnqueueGeneratesTaskIDs checks that a task without an ID gets a new
// random UUID from both Enqueue and EnqueueMany, stored under it.
func TestEnqueueGeneratesTaskIDs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, insp := newClient(t)
	seen := map[string]bool{}
	check := func(from string, info *tasks.TaskInfo) {
		t.Helper()
		u, err := uuid.Parse(info.ID)
		if err != nil || u.Version() != 4 || u.String() != info.ID {
			t.Fatalf("%s: task ID %q is not a version 4 UUID (%v)", from, info.ID, err)
		}
		if seen[info.ID] {
			t.Fatalf("%s: task ID %s handed out twice", from, info.ID)
		}
		seen[info.ID] = true
		if _, err := insp.GetTaskInfo(info.Queue, info.ID); err != nil {
			t.Fatalf("%s: task %s not stored under its ID: %v", from, info.ID, err)
		}
	}
	for range 3 {
		info, err := c.Enqueue(ctx, "id:x", []byte("same"), nil)
		if err != nil {
			t.Fatal(err)
		}
		check("Enqueue", info)
	}
	reqs := []tasks.Request{{Type: "id:x"}, {Type: "id:x"}, {Type: "id:x"}}
	for _, r := range c.EnqueueMany(ctx, reqs, 0) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		check("EnqueueMany", r.Info)
	}
}

// TestEnqueueUniqueAndScheduled checks the unique and scheduled paths of
// Enqueue: an equal unique task is a duplicate with asynq's error, and a
// scheduled task lands in its queue's scheduled set at its time.
func TestEnqueueUniqueAndScheduled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	opts := &tasks.EnqueueOptions{UniqueTTL: time.Minute}
	if _, err := c.Enqueue(ctx, "u:x", []byte("p"), opts); err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(ctx, "u:x", []byte("p"), opts)
	if !errors.Is(err, asynq.ErrDuplicateTask) || err.Error() != `tasks: enqueue "u:x": an equal task (same type, queue "default" and payload) holds the uniqueness lock: task already exists` {
		t.Fatalf("equal unique task: %v; want ErrDuplicateTask", err)
	}

	at := time.Now().Add(time.Hour).Truncate(time.Second)
	info, err := c.Enqueue(ctx, "s:x", nil, &tasks.EnqueueOptions{ProcessAt: at, Queue: "low"})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateScheduled || !info.NextProcessAt.Equal(at) {
		t.Fatalf("scheduled task: state %s, next %s; want scheduled at %s", info.State, info.NextProcessAt, at)
	}
	score, err := rdb.ZScore(ctx, "asynq:{low}:scheduled", info.ID).Result()
	if err != nil || int64(score) != at.Unix() {
		t.Fatalf("scheduled set score %v, %v; want %d", score, err, at.Unix())
	}
	if n := rdb.LLen(ctx, "asynq:{low}:pending").Val(); n != 0 {
		t.Fatalf("%d pending tasks in low; want none", n)
	}
}
