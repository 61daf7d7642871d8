package asynqrdb

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// asynqForwardScript is asynq v0.26.0's forwardCmd (internal/rdb/rdb.go),
// byte for byte: it moves the due tasks of a queue's scheduled or retry
// set to its pending list and answers how many. ServerClient recognizes
// it by its SHA-1 and pushes that many wake-up tokens after it.
//
// KEYS: scheduled or retry set, pending list.
const asynqForwardScript = `
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
for _, id in ipairs(ids) do
	local taskKey = ARGV[2] .. id
	local group = redis.call("HGET", taskKey, "group")
	if group and group ~= '' then
	    redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
		redis.call("ZREM", KEYS[1], id)
		redis.call("HSET", taskKey,
				   "state", "aggregating")
	else
		redis.call("LPUSH", KEYS[2], id)
		redis.call("ZREM", KEYS[1], id)
		redis.call("HSET", taskKey,
				   "state", "pending",
				   "pending_since", ARGV[3])
	end
end
return table.getn(ids)`

// ServerClient is the go-redis client one asynq server of the worker is
// given (asynq.NewServerFromRedisClient): the worker's shared client, with
// two of asynq's kinds of calls changed in transit and every other call
// passed on as is:
//
//   - its dequeue script, with several queues and outside Redis Cluster,
//     runs as one multi-queue fetch (MultiFetch, fetch.go);
//   - its forward script (due scheduled and retry tasks to pending) is
//     followed by wake-up tokens for the tasks it moved (wake.go), and
//     with ForwardTogether runs for all the server's queues at once
//     (wake_forward.go);
//   - the outcome script of a task the worker deferred itself
//     (DeferActive) is dropped (OutcomeSkips, requeue.go);
//   - the calls riding on a task's outcome script (Riders, riders.go:
//     the release of its fleet-limit slots) go in the same pipeline;
//   - its other scripts (above all the one per finished task that records
//     the outcome) go through the worker's ScriptBatcher (batch.go), which
//     shares round trips between calls made at the same time;
//   - its archive script runs wrapped, releasing the task's lock that lasts
//     until the task ends in the same script (archive.go);
//   - its subscription to asynq's cancel channel (CancelChannel) is moved
//     to DivertedCancelChannel, on which nobody publishes: the worker
//     receives asynq's cancellations itself (Inspector.CancelProcessing,
//     asynqmon's cancel button) and ends the task's processor context, so
//     that a cancelled task ends instead of being retried (asynq's own
//     cancellation ends its context of the attempt, and asynq then records
//     the attempt as failed and retries it).
//
// asynq v0.26.0 calls scripts only through go-redis's Script.Run, that is
// through this client's EvalSha and, when Redis has not cached a script
// yet, Eval.
type ServerClient struct {
	redis.UniversalClient
	dequeueSHA string // of asynqDequeueScript
	forwardSHA string // of asynqForwardScript
	archiveSHA string // of asynqArchiveScript
	retrySHA   string // of asynqRetryScript
	// cancelled reports, once, that a task was cancelled on request
	// (EndCancelled); nil: none is.
	cancelled       func(queue, id string) bool
	deleteCancelled bool
	fetch           *MultiFetch      // nil: dequeue as asynq does
	batch           *ScriptBatcher   // nil: send each script alone
	fwd             *ForwardTogether // nil: forward set by set as asynq does
	skips           *OutcomeSkips    // nil: drop no outcome script
	riders          *Riders          // nil: no call rides on outcome scripts
}

// ForwardTogether makes c run asynq's forward calls for all of the
// server's queues in one script (see wake_forward.go); it returns c.
func (c *ServerClient) ForwardTogether(f *ForwardTogether) *ServerClient {
	c.fwd = f
	return c
}

// forward runs asynq's forward call through the combined forward when
// there is one, then pushes the wake-up tokens of what moved.
func (c *ServerClient) forward(ctx context.Context, keys []string, args []any, run func() *redis.Cmd) *redis.Cmd {
	if c.fwd != nil {
		if cmd, ok := c.fwd.forward(ctx, keys, args); ok {
			return c.wakeAfter(ctx, keys, cmd)
		}
	}
	return c.wakeAfter(ctx, keys, run())
}

// SkipOutcomes makes c drop the outcome script of every task in s (see
// OutcomeSkips and DeferActive): asynq's processor then believes it
// recorded the outcome of a task the worker already moved.
func (c *ServerClient) SkipOutcomes(s *OutcomeSkips) { c.skips = s }

// NewServerClient wraps rdb for one asynq server; fetch and batch may be
// nil.
func NewServerClient(rdb redis.UniversalClient, fetch *MultiFetch, batch *ScriptBatcher) *ServerClient {
	return &ServerClient{
		UniversalClient: rdb, dequeueSHA: sha1Hex(asynqDequeueScript), forwardSHA: sha1Hex(asynqForwardScript),
		archiveSHA: sha1Hex(asynqArchiveScript), retrySHA: sha1Hex(asynqRetryScript),
		fetch: fetch, batch: batch,
	}
}

// EvalSha runs asynq's dequeue script through the multi-queue fetch,
// sends the other scripts through the batcher, and passes the rest on.
func (c *ServerClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if sha == c.dequeueSHA {
		// The fetch loop's own round trip: never queued behind others.
		if c.fetch != nil {
			if cmd, ok := c.fetch.dequeue(ctx, keys, args); ok {
				return cmd
			}
		}
		return c.UniversalClient.EvalSha(ctx, sha, keys, args...)
	}
	if sha == c.forwardSHA {
		return c.forward(ctx, keys, args, func() *redis.Cmd { return c.UniversalClient.EvalSha(ctx, sha, keys, args...) })
	}
	if (sha == c.archiveSHA || sha == c.retrySHA) && c.cancelled != nil {
		if cmd, ok := c.endCancelled(ctx, sha == c.retrySHA, keys, args); ok {
			return cmd
		}
	}
	if sha == c.archiveSHA {
		// asynq falls back to Eval with its own text on NOSCRIPT; Eval
		// runs the wrapped text then.
		sha = archiveRelease.sha
	}
	if c.skips.take(keys) {
		return skipped(ctx)
	}
	riders := c.riders.take(keys)
	if c.batch != nil {
		return c.batch.evalShaWith(sha, keys, args, riders)
	}
	if riders != nil {
		sendRiders(ctx, c.UniversalClient, riders)
	}
	return c.UniversalClient.EvalSha(ctx, sha, keys, args...)
}

// Eval is EvalSha for the script text, which go-redis sends when Redis has
// not cached the script yet (after a Redis restart, for one); only the
// dequeue script is changed, the rest goes out alone.
//
// The other scripts run without ctx's cancellation, bounded by go-redis's
// read and write timeouts, as in the batcher: asynq re-sends a failed
// "task done" from its syncer with the context of the first attempt, which
// is cancelled by then, so without this the re-send after a Redis restart
// (no script cached: EvalSha fails, go-redis falls back to Eval) could
// never succeed and the finished task would come back as an orphan.
func (c *ServerClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	if script == asynqDequeueScript {
		if c.fetch != nil {
			if cmd, ok := c.fetch.dequeue(ctx, keys, args); ok {
				return cmd
			}
		}
		return c.UniversalClient.Eval(ctx, script, keys, args...)
	}
	if script == asynqForwardScript {
		return c.forward(ctx, keys, args, func() *redis.Cmd { return c.UniversalClient.Eval(ctx, script, keys, args...) })
	}
	if (script == asynqArchiveScript || script == asynqRetryScript) && c.cancelled != nil {
		if cmd, ok := c.endCancelled(ctx, script == asynqRetryScript, keys, args); ok {
			return cmd
		}
	}
	if script == asynqArchiveScript {
		script = archiveRelease.src
	}
	if c.skips.take(keys) {
		return skipped(ctx)
	}
	if riders := c.riders.take(keys); riders != nil {
		sendRiders(ctx, c.UniversalClient, riders)
	}
	return c.UniversalClient.Eval(context.WithoutCancel(ctx), script, keys, args...)
}

// EndCancelled makes the client end a task cancelled on request instead
// of retrying it: when asynq records an attempt as failed (its retry or
// archive script) and cancelled(queue, id) is true, the task is archived
// with the error "cancelled" (CancelledError) or, with del, deleted, in
// archiveReleaseScript (which releases its lock that lasts until the task
// ends). cancelled is asked once per failed attempt, from asynq's
// goroutines. Call it before the client is used.
func (c *ServerClient) EndCancelled(cancelled func(queue, id string) bool, del bool) {
	c.cancelled, c.deleteCancelled = cancelled, del
}

// endCancelled runs archiveReleaseScript in place of asynq's retry or
// archive call (keys, args) when the task was cancelled on request; ok is
// false when it was not (or the call is not what asynq v0.26.0 sends).
func (c *ServerClient) endCancelled(ctx context.Context, retry bool, keys []string, args []any) (*redis.Cmd, bool) {
	if len(keys) == 0 || len(args) == 0 {
		return nil, false
	}
	queue, ok := queueOfTaskKey(keys[0])
	id, _ := args[0].(string)
	if !ok || !c.cancelled(queue, id) {
		return nil, false
	}
	k, a, ok := cancelledEnd(retry, keys, args, time.Now(), c.deleteCancelled)
	if !ok {
		return nil, false
	}
	var cmd *redis.Cmd
	if c.batch != nil {
		cmd = c.batch.evalSha(archiveRelease.sha, k, a)
	} else {
		cmd = c.UniversalClient.EvalSha(ctx, archiveRelease.sha, k, a...)
	}
	if IsNoScript(cmd.Err()) {
		// asynq's own fallback would send its retry script: send ours.
		cmd = c.UniversalClient.Eval(context.WithoutCancel(ctx), archiveRelease.src, k, a...)
	}
	return cmd, true
}

// DivertedCancelChannel is where ServerClient moves an asynq server's
// subscription to CancelChannel. Nothing is published on it.
const DivertedCancelChannel = "tuskq:{cancel}:asynq-diverted"

// Subscribe passes subscriptions on, except asynq's to CancelChannel,
// which it moves to DivertedCancelChannel (see ServerClient).
func (c *ServerClient) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	if len(channels) == 1 && channels[0] == CancelChannel {
		channels = []string{DivertedCancelChannel}
	}
	return c.UniversalClient.Subscribe(ctx, channels...)
}

// wakeAfter pushes a wake-up token per task asynq's forward script (cmd,
// run with keys) made pending, and returns cmd. A failed push is not
// reported: the tasks are pending, and idle workers find them at their
// fallback fetch.
func (c *ServerClient) wakeAfter(ctx context.Context, keys []string, cmd *redis.Cmd) *redis.Cmd {
	n, err := cmd.Int64()
	if err != nil || n <= 0 || len(keys) != 2 {
		return cmd
	}
	if q, ok := QueueOfPendingKey(keys[1]); ok {
		_ = Wake(context.WithoutCancel(ctx), c.UniversalClient, q, int(n))
	}
	return cmd
}
