package tasks

// This file runs the enqueue script (internal/asynqrdb) for Enqueue and
// EnqueueMany: one call per task or per pipeline's worth of tasks, sent
// again while its reply is lost, split into single tasks when one of them
// may be at fault, and turned into each task's TaskInfo or error.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/events"
)

// wireTask is one task as the enqueue script stores it.
type wireTask struct {
	asynqrdb.Enqueue
	i     int // index of the request (EnqueueMany)
	trace string
	// uniqueKey is the caller's unique key ("" for none), for errors.
	uniqueKey string
	id        string     // the task ID
	span      trace.Span // the enqueue's PRODUCER span; nil with tracing off
}

// finish returns the outcome of the task's send (see outcome) and ends
// its span.
func (t *wireTask) finish(r reply, d deadline, want int) (*TaskInfo, error) {
	info, err := t.outcome(r, d, want)
	endProducer(t.span, t.id, err)
	return info, err
}

// event returns t's "enqueued" event as JSON (nil when it cannot be
// encoded, which a valid task never causes).
func (t *wireTask) event(now time.Time) []byte {
	ev := events.Event{
		Kind: events.KindEnqueued, Time: now, Queue: t.Info.Queue,
		TaskType: t.Info.Type, TaskID: t.Info.ID, TraceID: t.trace,
		WorkflowID: t.Info.Headers[events.HeaderWorkflow], Step: t.Info.Headers[events.HeaderStep],
	}
	data, err := events.Encode(ev)
	if err != nil {
		return nil
	}
	return data
}

// reply is the script's answer for one task, or the error of the call.
type reply struct {
	n   int64
	err error
	// maybeRan is set, with err, when a send may have reached Redis
	// without its reply coming back (see mayHaveRun).
	maybeRan bool
	// replicas is how many replicas confirmed the write (WaitReplicas),
	// -1 when not asked.
	replicas int64
}

// storeTasks stores ts, all of one queue, with one run of the enqueue
// script under the script deadline scriptMS, and returns each task's
// reply. It does not modify ts.
//
// A run whose reply is lost (the connection failed) is sent again with the
// same nonces, which cannot store a task twice: a task an earlier send
// stored answers 2 (see resend). A run that fails otherwise while ctx is
// alive (Redis answered an error, or refuses the command on the wire: an
// argument longer than its proto-max-bulk-len, say) may have stored some
// tasks before it failed, or have failed for one task only: its tasks are
// then stored one at a time, so that each reply says what happened to its
// task and one bad task fails alone.
func (c *Client) storeTasks(ctx context.Context, ts []wireTask, scriptMS int64) []reply {
	out := make([]reply, len(ts))
	if err := c.publishQueue(ctx, ts[0].Info.Queue); err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	call := asynqrdb.NewEnqueueCall(len(ts), scriptMS)
	publish := c.events.Enabled(ctx)
	if publish {
		call.Events(events.StreamKey(ts[0].Info.Queue), c.events.MaxLen())
	}
	now := time.Now()
	for i := range ts {
		call.Add(&ts[i].Enqueue)
		if publish {
			call.AddEvent(ts[i].event(now))
		}
	}
	ns, replicas, err := c.run(ctx, call)
	maybeRan := c.mayHaveRun(err)
	if replyLost(ctx, err) {
		var resentRan bool
		ns, replicas, resentRan, err = c.resend(ctx, call, err)
		maybeRan = maybeRan || resentRan
	}
	if err != nil && len(ts) > 1 && ctx.Err() == nil {
		for i := range ts {
			out[i] = c.storeTasks(ctx, ts[i:i+1], scriptMS)[0]
		}
		return out
	}
	for i := range out {
		if err != nil {
			out[i].err, out[i].maybeRan = err, maybeRan
		} else {
			out[i].n, out[i].replicas = ns[i], replicas
		}
	}
	return out
}

// resend sends call again after its reply was lost (err). The nonces make
// that safe: a task an earlier send stored answers 2. It sends at once,
// then keeps trying, with a growing pause, while Redis does not answer at
// all, until ctx ends. It gives up when a send loses its reply although
// Redis had just answered a PING: Redis refuses this command on the wire,
// so it stored nothing. It returns the last answer or error; an error from
// the end of ctx is replaced by the connection's last error. maybeRan
// reports whether a send that failed may have reached Redis.
func (c *Client) resend(ctx context.Context, call asynqrdb.EnqueueCall, err error) (_ []int64, replicas int64, maybeRan bool, _ error) {
	var pause time.Duration // the first resend goes at once
	reachable := false
	for {
		if !sleep(ctx, pause) {
			return nil, -1, maybeRan, err
		}
		pause = min(max(2*pause, 10*time.Millisecond), 200*time.Millisecond)
		ns, n, rerr := c.run(ctx, call)
		maybeRan = maybeRan || c.mayHaveRun(rerr)
		if !replyLost(ctx, rerr) {
			if rerr != nil && ctx.Err() != nil {
				return nil, -1, maybeRan, err
			}
			return ns, n, maybeRan, rerr
		}
		err = rerr
		if reachable {
			return nil, -1, maybeRan, err
		}
		reachable = c.rdb.Ping(ctx).Err() == nil
	}
}

// replyLost reports whether err means the reply did not arrive (the
// connection failed), as opposed to a reply of Redis or the end of ctx.
func replyLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply) || strings.HasPrefix(err.Error(), "LOADING")
}

// sleep waits for d or the end of ctx, and reports whether ctx is alive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// publishQueue adds queue to asynq's list of queues, once per client as
// asynq's client does, so that the Inspector and the monitor list it.
func (c *Client) publishQueue(ctx context.Context, queue string) error {
	if _, ok := c.published.Load(queue); ok {
		return nil
	}
	pause := 10 * time.Millisecond
	for {
		err := asynqrdb.PublishQueue(ctx, c.rdb, queue)
		if err == nil {
			c.published.Store(queue, true)
			return nil
		}
		if !replyLost(ctx, err) || !sleep(ctx, pause) {
			return err
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// bounded runs f under ctx and returns when ctx ends even if f does not.
// A go-redis client built without ContextTimeoutEnabled (asynq's
// RedisClientOpt builds those) ignores ctx's deadline while it waits for a
// reply, up to its ReadTimeout and then again for each of its own
// re-sends; f then runs on its own goroutine, which finishes later, while
// the caller has its answer at the deadline. f must not share memory the
// caller touches afterwards.
func (c *Client) bounded(ctx context.Context, f func(context.Context) reply) reply {
	if c.ctxTimeouts || ctx.Done() == nil {
		return f(ctx)
	}
	ch := make(chan reply, 1)
	go func() { ch <- f(ctx) }()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		// f may have sent the command: its outcome is unknown.
		return reply{err: ctx.Err(), maybeRan: true}
	}
}

// honoursContext reports whether rdb bounds its reads and writes by the
// deadline of the call's context (go-redis's ContextTimeoutEnabled).
func honoursContext(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// outcome turns the script's answer for t, or the error of running it,
// into t's TaskInfo or error, with the errors Enqueue documents.
func (t *wireTask) outcome(r reply, d deadline, want int) (*TaskInfo, error) {
	if r.err != nil {
		if d.passed() || errors.Is(r.err, context.DeadlineExceeded) && !d.at.IsZero() {
			return nil, t.timeout(d, r.err, r.maybeRan)
		}
		return nil, fmt.Errorf("tasks: enqueue %q: %w", t.Info.Type, r.err)
	}
	switch r.n {
	case asynqrdb.ReplyStored, asynqrdb.ReplyResent:
		if want > 0 && r.replicas < int64(want) {
			return nil, fmt.Errorf("tasks: enqueue %q as task %s: %w: %d of %d replicas within the deadline; "+
				"a failover now could lose it, and enqueueing it again with the same task ID cannot store it twice",
				t.Info.Type, t.Info.ID, ErrNotReplicated, r.replicas, want)
		}
		return &TaskInfo{TaskInfo: t.Info, TraceID: t.trace}, nil
	case asynqrdb.ReplyIDTaken:
		return nil, fmt.Errorf("tasks: enqueue %q: %w", t.Info.Type, asynq.ErrTaskIDConflict)
	case asynqrdb.ReplyDupe:
		if t.uniqueKey != "" {
			return nil, fmt.Errorf("tasks: enqueue %q: unique key %q of queue %q is held by an equal task: %w",
				t.Info.Type, t.uniqueKey, t.Info.Queue, asynq.ErrDuplicateTask)
		}
		return nil, fmt.Errorf("tasks: enqueue %q: an equal task (same type, queue %q and payload) holds the uniqueness lock: %w",
			t.Info.Type, t.Info.Queue, asynq.ErrDuplicateTask)
	case asynqrdb.ReplyTooLate:
		return nil, t.timeout(d, errRanLate, false)
	}
	return nil, fmt.Errorf("tasks: enqueue %q: unexpected answer %s from the enqueue script", t.Info.Type, strconv.FormatInt(r.n, 10))
}

// timeout returns t's ErrEnqueueTimeout error with the given cause;
// unknown tells whether a send may have stored the task unseen.
func (t *wireTask) timeout(d deadline, cause error, unknown bool) error {
	if errors.Is(cause, context.DeadlineExceeded) {
		cause = nil // wrapped anyway
	}
	return &timeoutError{typ: t.Info.Type, id: t.Info.ID, within: d.within, cause: cause, unknown: unknown}
}
