package tasks

// This file holds the deadline every enqueue carries into Redis and the
// error of an enqueue that ran out of time. Enqueue and EnqueueMany share
// it; the enqueue script that checks the deadline, and the nonce that makes
// a re-send safe, are in internal/asynqrdb (enqueue.go); enqueuestore.go
// runs it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// ErrEnqueueTimeout is wrapped by the error of an enqueue that did not
// complete before its deadline (ClientOptions.EnqueueTimeout, or the
// context's earlier deadline). The deadline travels with the command: Redis
// refuses to store the task later (after a freeze, or a re-send of the
// connection library). The error also wraps context.DeadlineExceeded and,
// when there was one, the last error of the connection (connection
// refused, say).
//
// When the error does not also wrap ErrOutcomeUnknown, the task was not
// stored: Redis answered that it ran the command too late, or the command
// never reached Redis.
var ErrEnqueueTimeout = errors.New("no reply from Redis before the enqueue deadline")

// ErrOutcomeUnknown is wrapped, with ErrEnqueueTimeout, by the error of an
// enqueue whose command reached Redis but whose reply did not come back in
// time: Redis may have stored the task just before it stopped answering
// (frozen, killed, or cut off), or may run the command later, past its
// deadline, and store nothing. No client can tell which before Redis
// answers again. Enqueue the task again with the same task ID (the error
// names it) once Redis answers: it is stored at most once, and
// asynq.ErrTaskIDConflict then means that the first enqueue stored it.
var ErrOutcomeUnknown = errors.New("the task may have been stored")

// DefaultEnqueueTimeout bounds an enqueue when ClientOptions.EnqueueTimeout
// is zero.
const DefaultEnqueueTimeout = 2 * time.Second

// run runs call with the client's WaitReplicas (asynqrdb.RunEnqueue):
// each task's answer and, with WaitReplicas, how many replicas confirmed
// the call's writes (otherwise -1).
func (c *Client) run(ctx context.Context, call asynqrdb.EnqueueCall) ([]int64, int64, error) {
	return asynqrdb.RunEnqueue(ctx, c.rdb, call, asynqrdb.RunOptions{WaitReplicas: c.waitReplicas})
}

// ErrNotReplicated is wrapped by the error of an enqueue made with
// ClientOptions.WaitReplicas when Redis stored the task but fewer replicas
// than asked confirmed it before the deadline. The task is stored and will
// run, unless a failover promotes a replica that lacks it; enqueueing it
// again with the same task ID cannot store it twice.
var ErrNotReplicated = errors.New("stored, but fewer replicas than asked confirmed it")

// deadline is the deadline of one Enqueue, or of one pipeline of
// EnqueueMany.
type deadline struct {
	// at is when the client stops waiting; zero means never.
	at time.Time
	// within is at minus the start, for the error text.
	within time.Duration
	// scriptMS is the deadline given to the script, in Unix ms: at minus a
	// margin (a tenth of the time, at most 200ms), so that a script run in
	// time normally answers before the client gives up. 0 means none.
	scriptMS int64
}

// maxDeadlineMargin bounds the margin between the script's deadline and
// the client's.
const maxDeadlineMargin = 200 * time.Millisecond

// withDeadline returns ctx bounded by the client's enqueue timeout (unless
// ctx ends earlier), its cancel function and the deadline.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc, deadline) {
	start := time.Now()
	at, ok := ctx.Deadline()
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 {
		if own := start.Add(c.timeout); !ok || own.Before(at) {
			at, ok = own, true
			ctx, cancel = context.WithDeadline(ctx, own)
		}
	}
	if !ok {
		return ctx, cancel, deadline{}
	}
	within := at.Sub(start)
	margin := min(maxDeadlineMargin, within/10)
	return ctx, cancel, deadline{at: at, within: within, scriptMS: max(1, at.Add(-margin).UnixMilli())}
}

// passed reports whether the client's deadline has passed.
func (d deadline) passed() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// errRanLate is the cause of an ErrEnqueueTimeout when Redis answered but
// ran the script after its deadline.
var errRanLate = errors.New("the command ran in Redis after its deadline and stored nothing")

// timeoutError is the error of an enqueue that timed out.
type timeoutError struct {
	typ, id string
	within  time.Duration
	cause   error // the last error of the connection, or errRanLate; may be nil
	// unknown is set when a send of the command may have reached Redis
	// without its reply coming back.
	unknown bool
}

func (e *timeoutError) Error() string {
	within := e.within
	if r := within.Round(time.Millisecond); r > 0 {
		within = r
	}
	var msg string
	if e.unknown {
		msg = fmt.Sprintf("tasks: enqueue %q as task %s: no reply from Redis within %s: "+
			"the task may have been stored; enqueue it again with the same task ID once Redis answers: "+
			"it is stored at most once (a task ID conflict then means it was stored)",
			e.typ, e.id, within)
	} else {
		msg = fmt.Sprintf("tasks: enqueue %q as task %s: no reply from Redis within %s: "+
			"the task was not stored; enqueueing again with the same task ID cannot duplicate it",
			e.typ, e.id, within)
	}
	if e.cause != nil && !isTimeout(e.cause) {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns ErrEnqueueTimeout, ErrOutcomeUnknown when the outcome is
// unknown, context.DeadlineExceeded and the cause.
func (e *timeoutError) Unwrap() []error {
	errs := []error{ErrEnqueueTimeout, context.DeadlineExceeded}
	if e.unknown {
		errs = append(errs, ErrOutcomeUnknown)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// mayHaveRun reports whether the failed send whose error is err may have
// reached Redis: every error but a NOSCRIPT reply and, when the client
// reports every attempt (exactSends), a failed dial, an exhausted
// connection pool and a context that ended before anything was written
// (go-redis reports a deadline hit while writing or reading as a network
// timeout). With go-redis's own re-sends on, its last error may hide an
// earlier attempt that reached Redis.
func (c *Client) mayHaveRun(err error) bool {
	var op *net.OpError
	switch {
	case err == nil || asynqrdb.IsNoScript(err):
		return false
	case !c.exactSends:
		return true
	case errors.Is(err, redis.ErrPoolTimeout), errors.As(err, &op) && op.Op == "dial":
		return false
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		var ne net.Error
		return errors.As(err, &ne)
	}
	return true
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
