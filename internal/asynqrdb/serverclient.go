package asynqrdb

import (
	"context"

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
//     followed by wake-up tokens for the tasks it moved (wake.go);
//   - the outcome script of a task the worker deferred itself
//     (DeferActive) is dropped (OutcomeSkips, requeue.go);
//   - its other scripts (above all the one per finished task that records
//     the outcome) go through the worker's ScriptBatcher (batch.go), which
//     shares round trips between calls made at the same time.
//
// asynq v0.26.0 calls scripts only through go-redis's Script.Run, that is
// through this client's EvalSha and, when Redis has not cached a script
// yet, Eval.
type ServerClient struct {
	redis.UniversalClient
	dequeueSHA string         // of asynqDequeueScript
	forwardSHA string         // of asynqForwardScript
	fetch      *MultiFetch    // nil: dequeue as asynq does
	batch      *ScriptBatcher // nil: send each script alone
	skips      *OutcomeSkips  // nil: drop no outcome script
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
		return c.wakeAfter(ctx, keys, c.UniversalClient.EvalSha(ctx, sha, keys, args...))
	}
	if c.skips.take(keys) {
		return skipped(ctx)
	}
	if c.batch != nil {
		return c.batch.evalSha(sha, keys, args)
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
		return c.wakeAfter(ctx, keys, c.UniversalClient.Eval(ctx, script, keys, args...))
	}
	if c.skips.take(keys) {
		return skipped(ctx)
	}
	return c.UniversalClient.Eval(context.WithoutCancel(ctx), script, keys, args...)
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
