package asynqrdb

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file makes one round trip fetch a task from whichever of the
// worker's queues has one, where asynq v0.26.0 spends a round trip per
// queue it probes.
//
// asynq's processor fetches with rdb.Dequeue(queues...), which runs its
// dequeue script once per queue, in priority order (strict) or in a
// weighted random order, until one returns a task. With the default queues
// (critical 6, default 3, low 1) and work in only one of them, most
// fetches first probe one or two empty queues: about 1.9 round trips per
// task instead of 1, which costs throughput (the fetch loop is serial) and
// CPU in the worker and in Redis.
//
// ServerClient (see serverclient.go) intercepts that script and hands it to a
// MultiFetch: the call for the first queue of asynq's order runs instead a
// script that tries every queue, in asynq's order (the first as asynq chose
// it, the rest in priority order or drawn by weight exactly as asynq
// shuffles them), with asynq's per-queue logic unchanged (skip a paused
// queue, move the task to active, take a lease), and returns the first
// task found. asynq reads the queue of the task from the task itself, so it
// does not matter which call found it. When every queue was empty, asynq
// goes on to call the script for each remaining queue; those calls are
// answered "empty" without a round trip, since the one script just saw
// them empty. The priority semantics are therefore those of asynq: the
// same order, the same weights, one task per fetch.
//
// The wrapper is tied to asynq v0.26.0's dequeue script and key layout, as
// the enqueue script is (see LayoutVersion); TestDequeueScriptIsAsynqs
// checks the script text. It tries several queues in one script only
// outside Redis Cluster, where keys of different queues live in
// different slots and one script cannot touch them all; in Cluster, with
// worker.wake push, each of asynq's calls runs for its own queue
// (PerQueue), with the same script, so that an idle server can wait.

// asynqDequeueScript is asynq v0.26.0's dequeueCmd (internal/rdb/rdb.go),
// byte for byte; ServerClient recognizes its calls by this script's SHA-1.
//
// KEYS: pending, paused, active, lease of one queue. ARGV: lease
// expiration (Unix s), task key prefix.
const asynqDequeueScript = `
if redis.call("EXISTS", KEYS[2]) == 0 then
	local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
	if id then
		local key = ARGV[2] .. id
		redis.call("HSET", key, "state", "active")
		redis.call("HDEL", key, "pending_since")
		redis.call("ZADD", KEYS[4], ARGV[1], id)
		return redis.call("HGET", key, "msg")
	end
end
return nil`

// multiDequeueScript is asynq's dequeue script applied to several queues
// in turn until one yields a task. When none does, every queue is empty
// or paused, and it deletes their wake-up markers (see wake.go): no task a
// token stands for is left to fetch.
//
// KEYS: pending, paused, active, lease, wake-up marker of each queue, in
// order. ARGV: lease expiration (Unix s), then the task key prefix of each
// queue, then "0" to leave the markers alone (a fetch after a wait that
// ended without a token: the markers were empty) or "1" to delete them.
const multiDequeueScript = `
for i = 0, #KEYS / 5 - 1 do
	local k = i * 5
	if redis.call("EXISTS", KEYS[k + 2]) == 0 then
		local id = redis.call("RPOPLPUSH", KEYS[k + 1], KEYS[k + 3])
		if id then
			local key = ARGV[i + 2] .. id
			redis.call("HSET", key, "state", "active")
			redis.call("HDEL", key, "pending_since")
			redis.call("ZADD", KEYS[k + 4], ARGV[1], id)
			return redis.call("HGET", key, "msg")
		end
	end
end
if ARGV[#KEYS / 5 + 2] ~= "0" then
	for i = 0, #KEYS / 5 - 1 do
		redis.call("DEL", KEYS[i * 5 + 5])
	end
end
return nil`

// FetchQueue is a queue of an asynq server and its weight.
type FetchQueue struct {
	Name   string
	Weight int
}

// queueKeys are the keys and the task key prefix of a queue, in the order
// the dequeue scripts take them.
type queueKeys struct {
	keys   [5]string // pending, paused, active, lease, wake-up marker
	prefix string    // task key prefix
}

func newQueueKeys(queue string) queueKeys {
	return queueKeys{
		keys:   [5]string{PendingKey(queue), PausedKey(queue), ActiveKey(queue), LeaseKey(queue), WakeKey(queue)},
		prefix: TaskKeyPrefix(queue),
	}
}

// MultiFetch turns the dequeue calls of one asynq server into multi-queue
// fetches. It serves one server, whose processor fetches from one
// goroutine; the mutex only guards against surprises.
type MultiFetch struct {
	rdb      redis.UniversalClient
	queues   []FetchQueue // by priority, highest first
	strict   bool
	multiSHA string

	keys map[string]queueKeys

	waiter   *Waiter // nil: asynq polls
	fallback time.Duration
	wakeKeys []string    // of the queues, for the waiter
	spread   *spreadWait // per queue: the wait on markers in different slots

	// perQueue: each of asynq's dequeue calls runs for its own queue
	// (Redis Cluster, see PerQueue).
	perQueue bool

	mu sync.Mutex
	// idle is true when the last fetch found every queue empty, at
	// lastFetch.
	idle      bool
	lastFetch time.Time
	// empty are the queues the last multi-queue fetch found empty and
	// asynq has not yet asked about in its current round of probes.
	empty []string
	// rest are, per queue, the queues asynq has yet to probe in its
	// current round, and restClear the marker argument of the round.
	rest      []string
	restClear string
	// idleSince is when the fetches began to find every queue empty;
	// streak counts the fetches in a row that returned a task, and onTask
	// is called after each of them (see wake_spare.go).
	idleSince time.Time
	streak    int
	onTask    func(streak int)
}

// FetchQueues returns the queues asynq serves for the configured ones
// (asynq's NewServer drops blank names and weights below 1), highest
// priority first.
func FetchQueues(queues map[string]int) []FetchQueue {
	qs := make([]FetchQueue, 0, len(queues))
	for name, w := range queues {
		if strings.TrimSpace(name) != "" && w > 0 {
			qs = append(qs, FetchQueue{name, w})
		}
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].Weight != qs[j].Weight {
			return qs[i].Weight > qs[j].Weight
		}
		return qs[i].Name < qs[j].Name
	})
	return qs
}

// NewMultiFetch returns the multi-queue fetch of a server serving qs (see
// FetchQueues) through rdb, with strict priority or not.
func NewMultiFetch(rdb redis.UniversalClient, qs []FetchQueue, strict bool) *MultiFetch {
	keys := make(map[string]queueKeys, len(qs))
	for _, q := range qs {
		keys[q.Name] = newQueueKeys(q.Name)
	}
	return &MultiFetch{
		rdb:      rdb,
		queues:   qs,
		strict:   strict,
		multiSHA: sha1Hex(multiDequeueScript),
		keys:     keys,
	}
}

// PerQueue makes c run each of asynq's dequeue calls for its own queue,
// as asynq does, instead of one script for every queue: in Redis Cluster
// the keys of different queues live in different hash slots, which one
// script cannot touch. A wait (Wait) then blocks on each queue's marker
// on the queue's node (wake_cluster.go). Call it before Wait; it returns
// c.
func (c *MultiFetch) PerQueue() *MultiFetch {
	c.perQueue = true
	return c
}

// Wait makes the fetch wait for wake-up tokens (see wake.go) when its
// last fetch found every queue empty, instead of letting asynq poll; it
// returns c. fallback is how long it goes without fetching when no token
// comes (0: the Waiter's WaiterOptions.Fallback). In Redis Cluster the
// queues must share a hash slot (one queue), or c must run per queue
// (PerQueue).
func (c *MultiFetch) Wait(w *Waiter, fallback time.Duration) *MultiFetch {
	c.waiter = w
	c.fallback = fallback
	if fallback <= 0 {
		c.fallback = w.fallback
	}
	c.wakeKeys = make([]string, len(c.queues))
	for i, q := range c.queues {
		c.wakeKeys[i] = WakeKey(q.Name)
	}
	if c.perQueue && len(c.wakeKeys) > 1 {
		c.spread = newSpreadWait(w, c.wakeKeys)
	}
	return c
}

// wait waits for a token on the markers of c's queues (see Waiter.wait).
func (c *MultiFetch) wait(timeout time.Duration) (woke, failed bool) {
	if c.spread != nil {
		return c.spread.wait(timeout)
	}
	return c.waiter.wait(c.wakeKeys, timeout)
}

// dequeue handles asynq's dequeue call for one queue; ok is false when
// the call does not have the shape of asynq v0.26.0's, and it must run
// as is.
func (c *MultiFetch) dequeue(ctx context.Context, keys []string, args []any) (*redis.Cmd, bool) {
	if len(keys) != 4 || len(args) != 2 {
		return nil, false
	}
	first, ok := QueueOfPendingKey(keys[0])
	if !ok {
		return nil, false
	}
	if _, ok := c.keys[first]; !ok {
		return nil, false
	}
	c.mu.Lock()
	if i := indexOf(c.empty, first); i >= 0 {
		// A later probe of a round whose multi-queue fetch found every
		// queue empty, or whose wait ended without a token.
		c.empty = append(c.empty[:i], c.empty[i+1:]...)
		c.mu.Unlock()
		return emptyCmd(ctx), true
	}
	c.empty = c.empty[:0]
	if i := indexOf(c.rest, first); c.perQueue && i >= 0 {
		// A later probe of a round run per queue.
		c.rest = append(c.rest[:i], c.rest[i+1:]...)
		last, markers := len(c.rest) == 0, c.restClear
		c.mu.Unlock()
		return c.fetch(ctx, []string{first}, args[0], markers, last), true
	}
	c.rest = c.rest[:0]
	idle, last := c.idle, c.lastFetch
	c.mu.Unlock()

	order := c.order(first)
	leaseArg := args[0] // the lease expiration asynq computed
	clearMarkers := "1"
	if c.waiter != nil && idle {
		// The last fetch found nothing: wait for a token, and fetch when
		// one came or the fallback interval has passed since that fetch.
		start := time.Now()
		woke, failed := c.wait(c.fallback - time.Since(last))
		if !woke && !failed && (c.waiter.isStopped() || time.Since(last) < c.fallback) {
			c.setEmpty(order)
			return emptyCmd(ctx), true
		}
		if !woke && !failed {
			// The fallback fetch: the wait saw every marker empty, so
			// there is no stale token to delete (3 commands saved per
			// queue).
			clearMarkers = "0"
		}
		// asynq's lease runs from before the call: move the one stored
		// in Redis by the time waited (asynq's own copy is extended by its
		// heartbeat; DefaultMaxWait keeps the wait well within it).
		if exp, ok := leaseArg.(int64); ok {
			leaseArg = exp + int64((time.Since(start)+time.Second-1)/time.Second)
		}
	}
	if c.perQueue {
		c.mu.Lock()
		c.rest, c.restClear = append(c.rest[:0], order[1:]...), clearMarkers
		c.mu.Unlock()
		return c.fetch(ctx, order[:1], leaseArg, clearMarkers, len(order) == 1), true
	}
	return c.fetch(ctx, order, leaseArg, clearMarkers, true), true
}

// fetch runs the dequeue script for queues, in order, with the lease
// expiration leaseArg and the marker argument markers, and records the
// outcome; last reports that the round of probes ends here when every
// queue is empty.
func (c *MultiFetch) fetch(ctx context.Context, queues []string, leaseArg any, markers string, last bool) *redis.Cmd {
	mkeys := make([]string, 0, 5*len(queues))
	margs := make([]any, 0, 2+len(queues))
	margs = append(margs, leaseArg)
	for _, q := range queues {
		k := c.keys[q]
		mkeys = append(mkeys, k.keys[:]...)
		margs = append(margs, k.prefix)
	}
	margs = append(margs, markers)
	cmd := c.rdb.EvalSha(ctx, c.multiSHA, mkeys, margs...)
	if err := cmd.Err(); err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")) {
		cmd = c.rdb.Eval(ctx, multiDequeueScript, mkeys, margs...)
	}
	empty := errors.Is(cmd.Err(), redis.Nil)
	if empty && !last {
		// Per queue, asynq probes the next queue of the round.
		return cmd
	}
	now := time.Now()
	c.mu.Lock()
	switch {
	case empty:
		if !c.idle {
			c.idleSince = now
		}
		c.streak = 0
	case cmd.Err() == nil:
		c.streak++
	}
	if !empty {
		// A task or an error ends asynq's round.
		c.rest = c.rest[:0]
	}
	c.idle, c.lastFetch = empty, now
	streak, onTask := c.streak, c.onTask
	c.mu.Unlock()
	if empty && !c.perQueue {
		c.setEmpty(queues)
	} else if !empty && onTask != nil && cmd.Err() == nil {
		onTask(streak)
	}
	return cmd
}

// setEmpty records that the queues of order after the first are empty
// for the rest of asynq's round of probes.
func (c *MultiFetch) setEmpty(order []string) {
	c.mu.Lock()
	c.empty = append(c.empty[:0], order[1:]...)
	c.mu.Unlock()
}

// emptyCmd is the answer of the dequeue script for an empty queue.
func emptyCmd(ctx context.Context) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(redis.Nil)
	return cmd
}

// order returns the queues to try, first the one asynq chose, then the
// others as asynq would order them: by priority with strict priority,
// otherwise drawn one by one with probability proportional to weight
// (which is what asynq's shuffle of the weighted list amounts to).
func (c *MultiFetch) order(first string) []string {
	out := make([]string, 0, len(c.queues))
	out = append(out, first)
	if c.strict {
		for _, q := range c.queues {
			if q.Name != first {
				out = append(out, q.Name)
			}
		}
		return out
	}
	rest := make([]FetchQueue, 0, len(c.queues)-1)
	total := 0
	for _, q := range c.queues {
		if q.Name != first {
			rest = append(rest, q)
			total += q.Weight
		}
	}
	for len(rest) > 0 && total > 0 {
		n := rand.IntN(total)
		i := 0
		for n >= rest[i].Weight {
			n -= rest[i].Weight
			i++
		}
		out = append(out, rest[i].Name)
		total -= rest[i].Weight
		rest = append(rest[:i], rest[i+1:]...)
	}
	return out
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}
