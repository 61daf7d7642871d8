package asynqrdb

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// script is a Lua script and its SHA-1 for EVALSHA.
type script struct {
	src, sha string
}

func newScript(src string) script {
	return script{src: src, sha: sha1Hex(src)}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// enqueueScript is scriptEnqueue with its SHA-1.
var enqueueScript = newScript(scriptEnqueue)

// EnqueueCall is one run of the enqueue script: the keys and arguments of
// its tasks, all of one queue (in Redis Cluster they share a hash slot).
type EnqueueCall struct {
	n    int
	keys []string
	args []any
	// stream is the event stream (Events), "" for none; maxLen its MAXLEN
	// and evs each task's event.
	stream string
	maxLen int64
	evs    []any
}

// NewEnqueueCall returns a call for n tasks (added with Add) under the
// script deadline deadlineMS, in Unix ms (0: none).
func NewEnqueueCall(n int, deadlineMS int64) EnqueueCall {
	call := EnqueueCall{keys: make([]string, 0, 4*n), args: make([]any, 0, 1+6*n)}
	call.args = append(call.args, deadlineMS)
	return call
}

// Add adds the task e to the call.
func (c *EnqueueCall) Add(e *Enqueue) {
	c.n++
	c.keys = append(c.keys, e.Keys[:]...)
	c.args = append(c.args, e.Args[:]...)
}

// Events makes the call append each stored task's event (AddEvent) to
// stream, the queue's event stream (internal/events.StreamKey: it must
// share the queue's hash tag), trimmed to about maxLen entries.
func (c *EnqueueCall) Events(stream string, maxLen int64) {
	c.stream, c.maxLen = stream, maxLen
}

// AddEvent sets the event (JSON; nil for none) of the task last added.
// With Events, call it once after each Add.
func (c *EnqueueCall) AddEvent(ev []byte) {
	for len(c.evs) < c.n-1 {
		c.evs = append(c.evs, "")
	}
	if ev == nil {
		c.evs = append(c.evs, "")
		return
	}
	c.evs = append(c.evs, ev)
}

// script returns the keys and arguments the script runs with.
func (c *EnqueueCall) script() ([]string, []any) {
	if c.stream == "" {
		return c.keys, c.args
	}
	keys := make([]string, 0, len(c.keys)+1)
	keys = append(append(keys, c.keys...), c.stream)
	args := make([]any, 0, len(c.args)+1+c.n)
	args = append(append(args, c.args...), c.maxLen)
	args = append(args, c.evs...)
	for i := len(c.evs); i < c.n; i++ {
		args = append(args, "")
	}
	return keys, args
}

// Len is the number of tasks of the call.
func (c *EnqueueCall) Len() int { return c.n }

// RunOptions are the options of RunEnqueue.
type RunOptions struct {
	// WaitReplicas, when positive, runs Redis's WAIT for that many
	// replicas after the script, in the same round trip (see RunEnqueue).
	WaitReplicas int
}

// RunEnqueue runs call on rdb and returns the script's answer per task (the
// Reply constants). It sends EVALSHA, and EVAL when Redis lacks the script
// (the first use after a start or SCRIPT FLUSH; a NOSCRIPT reply means
// nothing ran). With opts.WaitReplicas it also returns how many replicas
// confirmed the call's writes; otherwise -1.
//
// With opts.WaitReplicas, it sends the script and, on the same connection
// in the same round trip, Redis's WAIT: it answers once that many replicas
// have confirmed every write made on the connection so far, or when its
// timeout (what is left of ctx's deadline) runs out, with the number that
// did. A write the script made is then on those replicas, and a failover
// to one of them keeps the task. In Redis Cluster the pipeline goes to the
// master of the queue's hash slot.
func RunEnqueue(ctx context.Context, rdb redis.UniversalClient, call EnqueueCall, opts RunOptions) ([]int64, int64, error) {
	if opts.WaitReplicas > 0 {
		return runWait(ctx, rdb, call, opts.WaitReplicas)
	}
	keys, args := call.script()
	ns, err := rdb.EvalSha(ctx, enqueueScript.sha, keys, args...).Int64Slice()
	if IsNoScript(err) {
		ns, err = rdb.Eval(ctx, enqueueScript.src, keys, args...).Int64Slice()
	}
	if err == nil && len(ns) != call.n {
		return nil, -1, fmt.Errorf("the enqueue script answered %d values for %d tasks", len(ns), call.n)
	}
	return ns, -1, err
}

// runWait is RunEnqueue with WAIT for replicas.
func runWait(ctx context.Context, rdb redis.UniversalClient, call EnqueueCall, replicas int) ([]int64, int64, error) {
	conn := rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
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
	keys, args := call.script()
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		eval = p.Eval(ctx, enqueueScript.src, keys, args...)
		wait = p.Do(ctx, "WAIT", replicas, waitMS)
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
		return nil, -1, fmt.Errorf("WAIT %d: %w", replicas, werr)
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

// IsNoScript reports whether err is Redis's NOSCRIPT reply: the script
// was not cached, and nothing ran.
func IsNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || strings.HasPrefix(err.Error(), "NOSCRIPT"))
}

// PublishQueue adds queue to asynq's list of queues (AllQueues), as asynq's
// client does once per client, so that the Inspector and asynqmon list it.
func PublishQueue(ctx context.Context, rdb redis.UniversalClient, queue string) error {
	return rdb.SAdd(ctx, AllQueues, queue).Err()
}
