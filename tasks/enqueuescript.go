package tasks

// This file holds tuskq's enqueue script and its contract: the deadline
// every enqueue carries into Redis, the nonce that makes a re-send safe,
// and the error of an enqueue that ran out of time. Enqueue and EnqueueMany
// share all of it; enqueuestore.go runs it.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
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

// enqueueField is the field of the task hash holding the nonce of the call
// that stored the task. asynq reads only its own fields (msg, state,
// pending_since, unique_key, ...) by name, never the whole hash, so the
// extra field is invisible to asynq servers, the Inspector and asynqmon.
const enqueueField = "tuskq_enq"

// scriptEnqueue stores tasks of one queue, as asynq v0.26.0's enqueue,
// enqueue-unique, schedule and schedule-unique scripts (internal/rdb/rdb.go)
// store them: the same fields of the task hash, the same keys. Enqueue runs
// it for one task, EnqueueMany for a pipeline's worth (all keys of a queue
// share a hash slot). It differs from asynq's scripts in three ways:
//
//   - each task carries a nonce of its enqueue call, stored in the task hash
//     as tuskq_enq. When the task key exists the task answers 2 if the
//     nonce is its own (an earlier send of this very call stored it: a
//     re-send) and 0 otherwise (another task has the ID);
//   - ARGV[1] is a deadline in Unix ms (0: none), checked against Redis's
//     clock after the task key: run after it, the script stores nothing
//     and answers -2 for a task not stored yet. A re-send that runs late
//     still answers 2 for a task an earlier send stored in time, so -2
//     always means that no send of the call stored the task (any send
//     still waiting in Redis runs later still, and stores nothing either);
//   - a unique task's ID is checked before its uniqueness lock is taken
//     (asynq takes the lock first, and leaves it behind on an ID conflict).
//     A held lock answers -1.
//
// A stored task answers 1. The reply is an array of one answer per task.
//
// Task i (from 1) has KEYS[3i-2] its task key, KEYS[3i-1] its queue's
// pending list (kinds 0 and 1) or scheduled set (kinds 2 and 3), KEYS[3i]
// its uniqueness lock (kinds 1 and 3; the list again otherwise), and six
// arguments from ARGV[6i-4]: kind (0 enqueue, 1 enqueue unique, 2 schedule,
// 3 schedule unique), nonce, task ID, task record, pending_since in Unix ns
// (kinds 0 and 1) or process-at in Unix s (kinds 2 and 3), lock TTL in s.
//
// TIME is called before any write: redis.replicate_commands makes that
// valid on Redis before 5 (it is the default since, and a no-op from 7).
const scriptEnqueue = `
redis.replicate_commands()
local n = #KEYS / 3
local out = {}
local deadline = tonumber(ARGV[1])
local late = false
if deadline > 0 then
	local t = redis.call("TIME")
	late = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline
end
for i = 1, n do
	local k, a = 3 * i - 2, 6 * i - 4
	local key, kind, nonce, id = KEYS[k], ARGV[a], ARGV[a + 1], ARGV[a + 2]
	local unique = kind == "1" or kind == "3"
	if redis.call("EXISTS", key) == 1 then
		if redis.call("HGET", key, "` + enqueueField + `") == nonce then
			out[i] = 2
		else
			out[i] = 0
		end
	elseif late then
		out[i] = -2
	elseif unique and not redis.call("SET", KEYS[k + 2], id, "NX", "EX", ARGV[a + 5]) then
		out[i] = -1
	else
		if kind == "0" then
			redis.call("HSET", key, "msg", ARGV[a + 3], "state", "pending", "pending_since", ARGV[a + 4],
				"` + enqueueField + `", nonce)
		elseif kind == "1" then
			redis.call("HSET", key, "msg", ARGV[a + 3], "state", "pending", "pending_since", ARGV[a + 4],
				"unique_key", KEYS[k + 2], "` + enqueueField + `", nonce)
		elseif kind == "2" then
			redis.call("HSET", key, "msg", ARGV[a + 3], "state", "scheduled", "` + enqueueField + `", nonce)
		else
			redis.call("HSET", key, "msg", ARGV[a + 3], "state", "scheduled", "unique_key", KEYS[k + 2],
				"` + enqueueField + `", nonce)
		end
		if kind == "0" or kind == "1" then
			redis.call("LPUSH", KEYS[k + 1], id)
		else
			redis.call("ZADD", KEYS[k + 1], ARGV[a + 4], id)
		end
		out[i] = 1
	end
end
return out
`

// Kinds of task in scriptEnqueue.
const (
	kindEnqueue        = 0
	kindEnqueueUnique  = 1
	kindSchedule       = 2
	kindScheduleUnique = 3
)

// Answers of scriptEnqueue per task.
const (
	replyStored  = 1
	replyResent  = 2 // stored by an earlier send of the same call
	replyIDTaken = 0
	replyDupe    = -1
	replyTooLate = -2
)

// nonceByteSize is the size of a nonce, in random bytes.
const nonceByteSize = 16

// script is a Lua script and its SHA-1 for EVALSHA.
type script struct {
	src, sha string
}

func newScript(src string) script {
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}

// scriptCall is one run of scriptEnqueue: its keys and arguments.
type scriptCall struct {
	n    int
	keys []string
	args []any
}

// newScriptCall lays ts out for scriptEnqueue with the deadline scriptMS.
func newScriptCall(ts []wireTask, scriptMS int64) scriptCall {
	call := scriptCall{n: len(ts), keys: make([]string, 0, 3*len(ts)), args: make([]any, 0, 1+6*len(ts))}
	call.args = append(call.args, scriptMS)
	for i := range ts {
		call.keys = append(call.keys, ts[i].keys[:]...)
		call.args = append(call.args, ts[i].args[:]...)
	}
	return call
}

// run runs call: EVALSHA, and EVAL when Redis lacks the script (the first
// use after a start or SCRIPT FLUSH; a NOSCRIPT reply means nothing ran).
// With ClientOptions.WaitReplicas it also returns how many replicas
// confirmed the call's writes (see runWait); otherwise -1.
func (c *Client) run(ctx context.Context, call scriptCall) ([]int64, int64, error) {
	if c.waitReplicas > 0 {
		return c.runWait(ctx, call)
	}
	ns, err := c.rdb.EvalSha(ctx, c.script.sha, call.keys, call.args...).Int64Slice()
	if isNoScript(err) {
		ns, err = c.rdb.Eval(ctx, c.script.src, call.keys, call.args...).Int64Slice()
	}
	if err == nil && len(ns) != call.n {
		return nil, -1, fmt.Errorf("the enqueue script answered %d values for %d tasks", len(ns), call.n)
	}
	return ns, -1, err
}

// runWait runs call and, on the same connection in the same round trip,
// Redis's WAIT: it answers once c.waitReplicas replicas have confirmed
// every write made on the connection so far, or when its timeout (what is
// left of the enqueue's deadline) runs out, with the number that did. A
// write the script made is then on those replicas, and a failover to one
// of them keeps the task. In Redis Cluster the pipeline goes to the master
// of the queue's hash slot.
func (c *Client) runWait(ctx context.Context, call scriptCall) ([]int64, int64, error) {
	conn := c.rdb
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, call.keys[0])
		if err != nil {
			return nil, -1, err
		}
		conn = node
	}
	waitMS := int64(defaultWaitTimeout / time.Millisecond)
	if at, ok := ctx.Deadline(); ok {
		left := time.Until(at)
		waitMS = max(1, (left - max(waitMargin, left/4)).Milliseconds())
	}
	// EVAL with the script's text, not EVALSHA: a NOSCRIPT answer (a new
	// master after a failover) would cost a whole WAIT before the retry.
	// Redis finds the compiled script by its SHA-1 either way.
	var eval, wait *redis.Cmd
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		eval = p.Eval(ctx, c.script.src, call.keys, call.args...)
		wait = p.Do(ctx, "WAIT", c.waitReplicas, waitMS)
		return nil
	})
	ns, eerr := eval.Int64Slice()
	if eerr != nil {
		return nil, -1, eerr
	}
	if err != nil && !errors.As(err, new(redis.Error)) {
		return nil, -1, err
	}
	if len(ns) != call.n {
		return nil, -1, fmt.Errorf("the enqueue script answered %d values for %d tasks", len(ns), call.n)
	}
	n, werr := wait.Int64()
	if werr != nil {
		return nil, -1, fmt.Errorf("WAIT %d: %w", c.waitReplicas, werr)
	}
	return ns, n, nil
}

// defaultWaitTimeout bounds WAIT when the enqueue has no deadline; a
// quarter of what is left of the deadline, and at least waitMargin, is
// left between WAIT's timeout and the deadline for the reply to arrive.
const (
	defaultWaitTimeout = 2 * time.Second
	waitMargin         = 100 * time.Millisecond
)

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
	case err == nil || isNoScript(err):
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

// newNonce returns a random nonce for one enqueue call.
func newNonce(fill randFunc) string {
	var b [nonceByteSize]byte
	fill(b[:])
	return hex.EncodeToString(b[:])
}
