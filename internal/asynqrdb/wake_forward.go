package asynqrdb

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file makes one round trip forward the due tasks of every
// scheduled and retry set of a server's queues, where asynq v0.26.0's
// forwarder runs its forward script once per set (2 per queue, each with
// its ZRANGEBYSCORE): with the default three queues and nothing due, 12
// commands every DelayedTaskCheckInterval become 7, and 6 round trips 1,
// most of an idle worker's cost in Redis.
//
// asynq's forwarder calls the script for each set in turn, and for a set
// again until it answers 0. ServerClient hands each call to a
// ForwardTogether: when it holds no fresh answer, the call runs
// forwardTogetherScript, asynq's forward logic (forwardCmd) applied to
// every set, and the counts of the other sets are kept for their calls
// of the same round (at most forwardFresh old); a call for a set whose
// answer was already given (asynq asking again after moving tasks) runs
// asynq's own script. Each answer is followed by the wake-up tokens of
// the tasks it moved, as for asynq's script.

// forwardTogetherScript is asynq's forwardCmd (asynqForwardScript) for
// each pair of keys.
//
// KEYS: scheduled or retry set, pending list, per set. ARGV: now (Unix
// s), now (Unix ns, pending_since), then the task key prefix and group
// key prefix of each set's queue. Answers the number moved per set.
const forwardTogetherScript = `
local out = {}
for i = 1, #KEYS / 2 do
	local src, dst = KEYS[2 * i - 1], KEYS[2 * i]
	local tprefix, gprefix = ARGV[2 * i + 1], ARGV[2 * i + 2]
	local ids = redis.call("ZRANGEBYSCORE", src, "-inf", ARGV[1], "LIMIT", 0, 100)
	for _, id in ipairs(ids) do
		local taskKey = tprefix .. id
		local group = redis.call("HGET", taskKey, "group")
		if group and group ~= '' then
			redis.call("ZADD", gprefix .. group, ARGV[1], id)
			redis.call("ZREM", src, id)
			redis.call("HSET", taskKey, "state", "aggregating")
		else
			redis.call("LPUSH", dst, id)
			redis.call("ZREM", src, id)
			redis.call("HSET", taskKey, "state", "pending", "pending_since", ARGV[2])
		end
	end
	out[i] = #ids
end
return out`

// forwardFresh is how long the counts of a combined run answer the calls
// of the same round.
const forwardFresh = time.Second

// groupKeyPrefix is asynq's GroupKeyPrefix (base.go).
func groupKeyPrefix(queue string) string { return QueueKeyPrefix(queue) + "g:" }

// forwardSet is one scheduled or retry set and its queue's keys.
type forwardSet struct {
	src, dst, taskPrefix, groupPrefix string
}

// ForwardTogether runs the forward calls of one asynq server for all its
// queues in one script. In Redis Cluster its queues must share a hash
// slot (one queue).
type ForwardTogether struct {
	rdb  redis.UniversalClient
	sets []forwardSet
	sha  string

	mu     sync.Mutex
	counts map[string]int64 // by source set: answers not given yet
	at     time.Time        // of the combined run they come from
}

// NewForwardTogether returns the combined forward of a server serving
// queues, through rdb.
func NewForwardTogether(rdb redis.UniversalClient, queues []FetchQueue) *ForwardTogether {
	f := &ForwardTogether{rdb: rdb, sha: sha1Hex(forwardTogetherScript)}
	for _, q := range queues {
		for _, src := range []string{ScheduledKey(q.Name), RetryKey(q.Name)} {
			f.sets = append(f.sets, forwardSet{src, PendingKey(q.Name), TaskKeyPrefix(q.Name), groupKeyPrefix(q.Name)})
		}
	}
	return f
}

// forward answers asynq's forward call (keys, args); ok is false when the
// call must run asynq's own script.
func (f *ForwardTogether) forward(ctx context.Context, keys []string, args []any) (*redis.Cmd, bool) {
	if len(keys) != 2 || len(args) != 4 {
		return nil, false
	}
	mine := -1
	for i, s := range f.sets {
		if s.src == keys[0] && s.dst == keys[1] {
			mine = i
		}
	}
	if mine < 0 {
		return nil, false
	}
	f.mu.Lock()
	fresh := time.Since(f.at) < forwardFresh && len(f.counts) > 0
	if n, ok := f.counts[keys[0]]; ok && fresh {
		delete(f.counts, keys[0])
		f.mu.Unlock()
		cmd := redis.NewCmd(ctx)
		cmd.SetVal(n)
		return cmd, true
	}
	f.mu.Unlock()
	if fresh {
		// asynq asks again for a set it already had the answer of.
		return nil, false
	}
	ckeys := make([]string, 0, 2*len(f.sets))
	cargs := make([]any, 0, 2+2*len(f.sets))
	cargs = append(cargs, args[0], args[2])
	for _, s := range f.sets {
		ckeys = append(ckeys, s.src, s.dst)
		cargs = append(cargs, s.taskPrefix, s.groupPrefix)
	}
	res := f.rdb.EvalSha(ctx, f.sha, ckeys, cargs...)
	if err := res.Err(); err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")) {
		res = f.rdb.Eval(ctx, forwardTogetherScript, ckeys, cargs...)
	}
	counts, err := res.Int64Slice()
	if err != nil || len(counts) != len(f.sets) {
		// Nothing is known to have moved (a failed script moves nothing):
		// let asynq's own script run, and report its error.
		return nil, false
	}
	f.mu.Lock()
	f.counts = make(map[string]int64, len(f.sets))
	for i, s := range f.sets {
		if i != mine {
			f.counts[s.src] = counts[i]
		}
	}
	f.at = time.Now()
	f.mu.Unlock()
	cmd := redis.NewCmd(ctx)
	cmd.SetVal(counts[mine])
	return cmd, true
}
