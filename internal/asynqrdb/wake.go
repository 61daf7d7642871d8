package asynqrdb

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is tuskq's wake-up on enqueue ("push, not poll").
//
// asynq's processor polls: after a fetch that found every queue empty it
// sleeps TaskCheckInterval and fetches again, so an idle worker costs
// Redis a fetch per interval. In push mode a server's fetch that finds
// every queue empty waits in Redis instead, with BLPOP on the wake-up
// markers of its queues (WakeKey), and fetches again when a token arrives
// or the fallback interval has passed.
//
// Every path of tuskq that makes a task pending pushes one token per task
// to the marker of the task's queue: the enqueue script (enqueue.go), the
// forwarding of due scheduled and retry tasks (asynq's forward script,
// seen in ServerClient), and orphan recovery (orphan.go). A token is
// popped by one waiting server only, so a task wakes one idle server, not
// all of them. The marker is capped at WakeCap tokens (LTRIM), so it stays
// small while nobody waits, and the multi-queue fetch script deletes the
// markers of its queues when it finds them all empty or paused: no task a
// token stands for is left then, and a stale token would only cost an
// idle server a useless fetch.
//
// Tasks made pending by a producer that knows nothing of tuskq (a plain
// asynq client, asynqmon's "run now", a queue unpaused) push no token;
// the fetch every fallback interval picks them up.
//
// In Redis Cluster the markers of different queues live in different hash
// slots, on different nodes, and one BLPOP cannot wait on them all: there
// a server of several queues fetches queue by queue, as asynq does, and
// waits with one BLPOP per marker, each on the marker's node
// (wake_cluster.go).

// WakeCap is the most tokens a wake-up marker holds.
const WakeCap = 1024

// DefaultMaxWait bounds one blocking wait. asynq computes a task's lease
// before it calls the dequeue script and the task starts only when the
// call returns, so a call must not outlast a good part of the 30 s lease.
const DefaultMaxWait = 5 * time.Second

// WakeKey is the wake-up marker of queue: a list of tokens, one per task
// made pending by tuskq, that idle servers wait on. It shares the hash
// slot of the queue's other keys.
func WakeKey(queue string) string { return QueueKeyPrefix(queue) + "tuskq:wake" }

// wakeLua pushes n tokens to the marker KEYS[idx] and trims it to WakeCap;
// it is pasted into the scripts that make tasks pending.
const wakeLua = `
local function tuskq_wake(key, n)
	if n <= 0 then return end
	local toks = {}
	for j = 1, math.min(n, ` + "1024" + `) do toks[j] = "1" end
	redis.call("LPUSH", key, unpack(toks))
	redis.call("LTRIM", key, 0, ` + "1023" + `)
end
`

// Wake pushes n tokens to the wake-up marker of queue (capped at
// WakeCap), in one round trip.
func Wake(ctx context.Context, rdb redis.UniversalClient, queue string, n int) error {
	if n <= 0 {
		return nil
	}
	toks := make([]any, min(n, WakeCap))
	for i := range toks {
		toks[i] = "1"
	}
	key := WakeKey(queue)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, toks...)
		p.LTrim(ctx, key, 0, WakeCap-1)
		return nil
	})
	return err
}

// Waiter makes the idle servers of a worker wait for tokens. It owns a
// go-redis client of its own, used only for the blocking waits (each takes
// a connection for its whole length); Stop closes it, which ends every
// wait at once.
type Waiter struct {
	rdb      redis.UniversalClient
	fallback time.Duration
	maxWait  time.Duration

	once    sync.Once
	stopped chan struct{}
}

// WaiterOptions configure a Waiter.
type WaiterOptions struct {
	// Fallback is how long an idle server goes without fetching when no
	// token arrives: the pickup latency of tasks no token announces.
	Fallback time.Duration
	// MaxWait bounds one blocking wait; 0 means DefaultMaxWait.
	MaxWait time.Duration
}

// NewWaiter returns a Waiter blocking on rdb, a client of its own with a
// connection per server of the worker; the Waiter closes it on Stop. rdb
// should not re-send failed commands (go-redis MaxRetries -1): a wait
// broken by a Redis restart or failover must end, so that the server
// fetches the tasks whose tokens the outage lost, rather than be sent
// again.
func NewWaiter(rdb redis.UniversalClient, opts WaiterOptions) *Waiter {
	mw := opts.MaxWait
	if mw <= 0 {
		mw = DefaultMaxWait
	}
	return &Waiter{rdb: rdb, fallback: opts.Fallback, maxWait: mw, stopped: make(chan struct{})}
}

// Stop ends every wait and every future one (they answer at once), and
// closes the Waiter's client. The worker calls it when it pauses or shuts
// down.
func (w *Waiter) Stop() {
	w.once.Do(func() {
		close(w.stopped)
		_ = w.rdb.Close()
	})
}

// isStopped reports whether Stop was called.
func (w *Waiter) isStopped() bool {
	select {
	case <-w.stopped:
		return true
	default:
		return false
	}
}

// wait blocks until a token arrives on one of keys (woke), timeout
// passes, Stop is called or the wait fails (failed: Redis unreachable,
// restarting or failing over, after a pause of up to 100 ms).
func (w *Waiter) wait(keys []string, timeout time.Duration) (woke, failed bool) {
	if w.isStopped() {
		return false, false
	}
	timeout = min(timeout, w.maxWait)
	if timeout < time.Millisecond {
		return false, false
	}
	woke, err := w.blpop(keys, timeout)
	if err != nil {
		return false, w.pauseAfterError(timeout)
	}
	return woke, false
}

// blpop pops a token from the first of keys that has one, waiting up to
// timeout (at least 1 ms) for one: woke reports a token; err is nil also
// when none came or the Waiter was stopped.
func (w *Waiter) blpop(keys []string, timeout time.Duration) (woke bool, err error) {
	if timeout >= time.Second {
		// Whole seconds, which every Redis takes; go-redis sets the read
		// deadline of a blocking command to its timeout plus 10 s itself,
		// so redis.read_timeout does not cut the wait short.
		err = w.rdb.BLPop(context.Background(), timeout.Truncate(time.Second), keys...).Err()
	} else {
		// go-redis rounds a timeout under 1 s up to 1 s: send the
		// fraction (Redis 6 and later), within redis.read_timeout.
		args := make([]any, 0, 2+len(keys))
		args = append(args, "BLPOP")
		for _, k := range keys {
			args = append(args, k)
		}
		args = append(args, strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64))
		err = w.rdb.Do(context.Background(), args...).Err()
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil) || w.isStopped():
		return false, nil
	default:
		return false, err
	}
}

// pauseAfterError is what a failed wait does: Redis unreachable,
// restarting or failing over, it does not spin; the fetch that follows
// reports the error to asynq, and the first that succeeds finds the tasks
// whose tokens the outage lost. It pauses up to 100 ms (less than
// timeout) and reports whether the wait failed (false: Stop was called).
func (w *Waiter) pauseAfterError(timeout time.Duration) bool {
	select {
	case <-w.stopped:
	case <-time.After(min(timeout, 100*time.Millisecond)):
	}
	return !w.isStopped()
}
