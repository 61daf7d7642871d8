package asynqrdb

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ScriptBatcher sends the Lua scripts that asynq's servers run to record
// what became of each task (done, retry, archive, hand back, …) in shared
// pipelines: while one pipeline is on its way to Redis and back, the
// scripts called meanwhile queue up and go together in the next one. With
// many tasks finishing at once, one round trip (two system calls in the
// worker, one read and one write in Redis) then serves several tasks
// instead of one each; a lone call goes out at once, as before.
//
// Each script runs exactly as asynq sends it, with its own keys and
// arguments and its own reply; a pipeline only shares the connection and
// the round trip, and Redis runs its commands one after the other, as it
// would the same calls on separate connections. A pipeline that fails
// (Redis unreachable) fails each of its calls with that error, which asynq
// handles as it handles a failed call of its own.
//
// The caller whose call finds no pipeline in flight sends the queued calls
// (its own first); when the reply is in, it hands the sending to the first
// call queued since, if any, and returns: no caller sends for others for
// longer than one round trip, and no goroutine is needed.
type ScriptBatcher struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	queue   []*batchedCall
	sending bool
}

// batchedCall is one EVALSHA waiting for its pipeline.
type batchedCall struct {
	sha  string
	keys []string
	args []any
	cmd  *redis.Cmd
	// wake is closed when cmd holds the reply, or when the call must send
	// the queue (lead is then true).
	wake chan struct{}
	lead bool
	// rider, when set, is a call riding on the next call queued (see
	// Riders): nobody waits for it, its reply goes to rider.Done.
	rider *Rider
}

// NewScriptBatcher returns a batcher sending through rdb.
func NewScriptBatcher(rdb redis.UniversalClient) *ScriptBatcher {
	return &ScriptBatcher{rdb: rdb}
}

// evalSha runs the script sha like rdb.EvalSha, in the next pipeline.
func (b *ScriptBatcher) evalSha(sha string, keys []string, args []any) *redis.Cmd {
	return b.evalShaWith(sha, keys, args, nil)
}

// EvalSha runs the script sha like rdb.EvalSha, in the next pipeline
// (ctx is not used: the pipeline is bounded by go-redis's timeouts). A
// NOSCRIPT error is the caller's to handle.
func (b *ScriptBatcher) EvalSha(_ context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return b.evalShaWith(sha, keys, args, nil)
}

// evalShaWith is evalSha with riders sent in the same pipeline, ahead of
// the call.
func (b *ScriptBatcher) evalShaWith(sha string, keys []string, args []any, riders []Rider) *redis.Cmd {
	c := &batchedCall{sha: sha, keys: keys, args: args, wake: make(chan struct{})}
	b.mu.Lock()
	for i := range riders {
		r := &riders[i]
		b.queue = append(b.queue, &batchedCall{sha: r.Script.Hash(), keys: r.Keys, args: r.Args, rider: r})
	}
	b.queue = append(b.queue, c)
	if b.sending {
		b.mu.Unlock()
		<-c.wake
		if !c.lead {
			return c.cmd
		}
	} else {
		b.sending = true
		b.mu.Unlock()
	}
	b.send()
	return c.cmd
}

// send sends every queued call in one pipeline, then hands the sending to
// the first call queued meanwhile, or ends it.
func (b *ScriptBatcher) send() {
	b.mu.Lock()
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()

	// asynq bounds each call by the task's lease; the pipeline is bounded
	// by go-redis's read and write timeouts instead, so that one caller's
	// deadline cannot fail the others' scripts.
	ctx := context.Background()
	pipe := b.rdb.Pipeline()
	for _, c := range batch {
		c.cmd = pipe.EvalSha(ctx, c.sha, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each call reads its own error

	// A queued rider always precedes the call it rides on: the first
	// waiting call sends next.
	b.mu.Lock()
	var next *batchedCall
	for _, c := range b.queue {
		if c.rider == nil {
			next = c
			break
		}
	}
	if next != nil {
		next.lead = true
		close(next.wake)
	} else {
		b.sending = false
	}
	b.mu.Unlock()
	for _, c := range batch {
		switch {
		case c.rider != nil:
			if IsNoScript(c.cmd.Err()) {
				c.cmd = c.rider.Script.Eval(ctx, b.rdb, c.keys, c.args...)
			}
			if c.rider.Done != nil {
				c.rider.Done(c.cmd)
			}
		case !c.lead:
			close(c.wake)
		}
	}
}
