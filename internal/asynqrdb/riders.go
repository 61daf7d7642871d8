package asynqrdb

// This file lets other parts of the worker send a script call "riding" on
// the outcome script asynq's processor sends for a task (done, complete,
// retry, archive): the fleet limits give a task's concurrency slots back
// this way, in the same pipeline as the task's outcome, so that releasing
// a slot costs no round trip of its own.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rider is a script call to send with a task's outcome script.
type Rider struct {
	// Script is the script to run (by SHA-1; its text when Redis has not
	// cached it).
	Script *redis.Script
	// Keys and Args are the script's.
	Keys []string
	Args []any
	// Done, when set, receives the reply. It is called from the goroutine
	// that sent the pipeline (one of asynq's): it must not block.
	Done func(*redis.Cmd)
}

// Riders holds, per task, the calls to send with its next outcome script.
// A ServerClient given the set (SendRiders) takes them when it sends that
// script and puts them in the same pipeline; Flush sends a task's riders at
// once (a task deferred by the worker, whose outcome script is dropped),
// and Run sends those that waited longer than a bound (a task whose
// outcome script never came: its lease ran out, say). The zero value is
// not usable; use NewRiders.
type Riders struct {
	n  atomic.Int64 // len(m), read without the lock on every script
	mu sync.Mutex
	m  map[string]*riding // task record key → its riders
}

type riding struct {
	calls []Rider
	at    time.Time
}

// NewRiders returns an empty set.
func NewRiders() *Riders { return &Riders{m: map[string]*riding{}} }

// Add makes calls ride on the next outcome script of task id of queue.
func (r *Riders) Add(queue, id string, calls ...Rider) {
	if len(calls) == 0 {
		return
	}
	k := TaskKey(queue, id)
	r.mu.Lock()
	if e := r.m[k]; e != nil {
		e.calls = append(e.calls, calls...)
	} else {
		r.m[k] = &riding{calls: calls, at: time.Now()}
	}
	r.n.Store(int64(len(r.m)))
	r.mu.Unlock()
}

// Len is the number of tasks with riders not sent yet.
func (r *Riders) Len() int {
	if r == nil {
		return 0
	}
	return int(r.n.Load())
}

// take returns and removes the riders of the task record among keys.
func (r *Riders) take(keys []string) []Rider {
	if r == nil || r.n.Load() == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if e, ok := r.m[k]; ok {
			delete(r.m, k)
			r.n.Store(int64(len(r.m)))
			return e.calls
		}
	}
	return nil
}

// Flush sends the riders of task id of queue now, if it has any.
func (r *Riders) Flush(ctx context.Context, rdb redis.UniversalClient, queue, id string) {
	if calls := r.take([]string{TaskKey(queue, id)}); calls != nil {
		sendRiders(ctx, rdb, calls)
	}
}

// Run sends, every interval until ctx ends, the riders that have waited
// longer than maxAge for their task's outcome script.
func (r *Riders) Run(ctx context.Context, rdb redis.UniversalClient, interval, maxAge time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.n.Load() == 0 {
			continue
		}
		var stale []Rider
		now := time.Now()
		r.mu.Lock()
		for k, e := range r.m {
			if now.Sub(e.at) > maxAge {
				stale = append(stale, e.calls...)
				delete(r.m, k)
			}
		}
		r.n.Store(int64(len(r.m)))
		r.mu.Unlock()
		if stale != nil {
			sendRiders(ctx, rdb, stale)
		}
	}
}

// sendRiders sends calls in one pipeline (by SHA-1, by text for those
// Redis had not cached) and hands each its reply.
func sendRiders(ctx context.Context, rdb redis.UniversalClient, calls []Rider) {
	ctx = context.WithoutCancel(ctx)
	pipe := rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = pipe.EvalSha(ctx, c.Script.Hash(), c.Keys, c.Args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range calls {
		if IsNoScript(cmds[i].Err()) {
			cmds[i] = c.Script.Eval(ctx, rdb, c.Keys, c.Args...)
		}
		if c.Done != nil {
			c.Done(cmds[i])
		}
	}
}

// SendRiders makes c send the riders of r with the outcome scripts of
// their tasks. Call it before the client is used.
func (c *ServerClient) SendRiders(r *Riders) { c.riders = r }
