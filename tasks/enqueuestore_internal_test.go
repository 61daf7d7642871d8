package tasks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// TestOutcome turns each answer of the enqueue script (its contract and
// tests are in internal/asynqrdb) into the TaskInfo or error Enqueue
// documents.
func TestOutcome(t *testing.T) {
	t.Parallel()
	c, err := NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.prepare(t.Context(), "out:x", []byte("p"), &EnqueueOptions{TaskID: "out-1"}, cryptoRand)
	if err != nil {
		t.Fatal(err)
	}
	w := r.wire(time.Now(), cryptoRand)
	for _, n := range []int64{asynqrdb.ReplyStored, asynqrdb.ReplyResent} {
		info, err := w.outcome(reply{n: n, replicas: -1}, deadline{}, 0)
		if err != nil || info.TaskInfo != w.Info || info.ID != "out-1" {
			t.Fatalf("answer %d: %+v, %v; want the prepared TaskInfo", n, info, err)
		}
	}
	if _, err := w.outcome(reply{n: asynqrdb.ReplyIDTaken}, deadline{}, 0); !errors.Is(err, asynq.ErrTaskIDConflict) ||
		err.Error() != `tasks: enqueue "out:x": task ID conflicts with another task` {
		t.Fatalf("ReplyIDTaken: %v; want ErrTaskIDConflict", err)
	}
	if _, err := w.outcome(reply{n: asynqrdb.ReplyDupe}, deadline{}, 0); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("ReplyDupe: %v; want ErrDuplicateTask", err)
	}
	d := deadline{at: time.Now().Add(time.Hour), within: 2 * time.Second, scriptMS: 1}
	_, err = w.outcome(reply{n: asynqrdb.ReplyTooLate}, d, 0)
	const want = `tasks: enqueue "out:x" as task out-1: no reply from Redis within 2s: the task was not stored; ` +
		`enqueueing again with the same task ID cannot duplicate it: the command ran in Redis after its deadline and stored nothing`
	if !errors.Is(err, ErrEnqueueTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrOutcomeUnknown) || err.Error() != want {
		t.Fatalf("ReplyTooLate: err\n got %v\nwant %s", err, want)
	}
	if _, err := w.outcome(reply{n: 7}, deadline{}, 0); err == nil {
		t.Fatal("an unknown answer was taken for a stored task")
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
