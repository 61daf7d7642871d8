// Package limits holds tuskq's fleet-wide flow control: limits on how many
// tasks of a type, queue or key run at once (concurrency) and how many
// start per period (rate), held by every worker together through Redis.
//
// A Limit (defined in package limitspec, which the configuration uses
// without this package's Redis dependencies) is set in the configuration
// (the limits section, parsed by Parse, the one decoder for the config
// file, the CLI, the HTTP API and Redis) or at run time (Store.Set, stored in Redis and followed by every worker through
// Watch: a pub/sub announcement and a revision read every second).
//
// Decisions:
//
//   - Every Redis key of a limit carries the hash tag {tuskq:limit:NAME}:
//     in Redis Cluster a limit lives in one slot, and each check is one
//     script on one node, whatever the nodes of the tasks' queues.
//   - Concurrency slots are leases in a sorted set (member: task ID, score:
//     expiry in Redis's ms). Running tasks renew them every LeaseTTL/3; a
//     dead worker's slots are free at most LeaseTTL (30 s) after its last
//     renewal. A task never holds two slots of a limit. A refused task
//     registers as waiting; a release promotes the oldest waiter
//     (asynqrdb.PromoteScheduled), and DefaultBackstop bounds its wait
//     otherwise.
//   - Rate is GCRA with a theoretical arrival time in Redis's clock. A
//     start at most MaxWait away is taken and waited for in the worker
//     (asynq's schedule has whole-second precision); a later one is
//     deferred to a return time handed out at the rate ("dtat"), so a
//     backlog is deferred once per task, not in a fetch-refuse loop.
//   - A refused task gets a *tasks.DeferError; the worker moves it to the
//     scheduled set without charging a retry. A limit that cannot be
//     checked (Redis down) defers the task rather than running it.
//   - Cost: a limit matching a task costs one script round trip before it
//     runs (its slot and its rate start are taken together, admitScript),
//     sent through the worker's script batcher for a concurrency-only
//     limit, so tasks admitted at the same moment share it (a rate's goes
//     alone: a call queued behind another pipeline would start late and
//     bunch the starts); the release of a slot rides on the task's
//     outcome script (asynqrdb.Riders) and costs no round trip of its own.
//   - Key values are bounded by MaxKeys; values beyond share the OtherKey
//     bucket, so the number of Redis keys of a limit is bounded.
package limits
