// Package asynqrdb is the one room of tuskq that depends on asynq
// v0.26.0's internals: its Redis key layout, its Lua scripts and its task
// record on the wire. asynq exports none of them (they live in its
// internal/base, internal/rdb and internal/proto packages), so tuskq
// mirrors them here, and nothing else in the module builds asynq's keys or
// scripts: tasks, worker, the monitor and the benchmarks call this package.
// TestNoAsynqKeysOutside fails on any string literal starting with "asynq:"
// in a non-test file elsewhere.
//
// What lives here:
//
//   - keys.go: asynq's key layout (base.go). Every key of a queue starts
//     with "asynq:{<queue>}:", so in Redis Cluster all keys of one queue
//     share a hash slot and one script may touch them all.
//   - message.go: asynq's TaskMessage (asynq.proto), encoded field by field.
//   - enqueue.go, run.go: tuskq's enqueue script, which stores the fields
//     asynq's enqueue, enqueue-unique, schedule and schedule-unique scripts
//     (rdb.go) store, under the same keys, with a deadline and a re-send
//     check added, for one task or a pipeline's worth; Prepare lays a task
//     out for it as asynq's client would (its defaults, its TaskInfo), and
//     RunEnqueue runs it, optionally with WAIT for replicas.
//   - conn.go: the go-redis clients of asynq's RedisConnOpt types, built as
//     their MakeRedisClient builds them.
//   - fetch.go, serverclient.go, batch.go: what a worker's asynq servers
//     send is changed in transit: asynq's dequeue script, recognized by its
//     SHA-1, becomes one multi-queue fetch, and its other scripts share
//     round trips.
//   - orphan.go: recovery of tasks whose lease expired, with a script that
//     is asynq's requeue script plus a lease check.
//   - archive.go: asynq's archive script wrapped to release a uniqueness
//     lock that lasts until the task ends (unique until_end, unique_key),
//     and a task cancelled on request archived with the error "cancelled"
//     or deleted in place of asynq's retry (ServerClient.EndCancelled).
//   - queuestats.go: the sizes of every queue (pending, active,
//     scheduled, retry, processed total, paused, the oldest pending task's
//     pending_since) in two pipelined round trips, for the monitor's
//     insight engine.
//   - wake.go: the wake-up on enqueue (worker.wake push), below;
//     wake_forward.go: asynq's forward script for every queue of a server
//     in one call; wake_spare.go: what the worker reads of a fetch to run
//     its spare servers only while there is work.
//
// # Wake-up on enqueue
//
// asynq's processor polls: after a fetch that found every queue empty it
// sleeps TaskCheckInterval and fetches again. With worker.wake push, a
// fetch that finds every queue empty makes the next fetch of that server
// wait in Redis first: BLPOP on the wake-up markers of its queues
// (WakeKey, "asynq:{<queue>}:tuskq:wake", a list in the queue's hash
// slot), for at most the fallback interval (worker.wake_fallback) and at
// most DefaultMaxWait per call (asynq's lease of the task fetched runs
// from before the call). A token, or the fallback, makes it fetch again.
//
// Tokens: the enqueue script pushes one per task stored pending; asynq's
// forward script (due scheduled and retry tasks), recognized by its SHA-1
// in ServerClient, is followed by one per task it moved; RecoverOrphans
// pushes one per task it handed back. A token is popped by one server
// only, so a task wakes one idle server. A marker holds at most WakeCap
// tokens (LTRIM), and the multi-queue fetch deletes the markers of its
// queues when it finds them all empty or paused (atomically, in the same
// script), so stale tokens cost at most one useless fetch each.
//
// The blocking waits use a client of their own (Waiter), which the worker
// closes on pause and shutdown: every wait ends at once. go-redis sets the
// read deadline of a blocking command to its timeout plus 10 s, so
// redis.read_timeout does not cut a wait short. On Sentinel a wait broken
// by a failover (or a Redis restart) returns an error (the Waiter's client
// does not re-send it); the server fetches at once, finding the tasks
// whose tokens the outage lost, and the next wait goes to the new master.
// In Redis Cluster one BLPOP cannot wait on keys of several slots: a
// server of several queues fetches queue by queue (MultiFetch.PerQueue)
// and waits with one BLPOP per marker, each on its queue's node, handing
// back a token that comes after its wait ended (wake_cluster.go).
//
// Tasks made pending without a token (a plain asynq client, asynqmon's
// "run now", a queue unpaused) are fetched at the fallback. That fetch
// follows a wait that saw every marker empty, so it leaves the markers
// alone (the script's last argument).
//
// # Idle cost
//
// What an idle worker sends Redis is asynq's periodic work plus the
// fallback. ForwardTogether runs asynq's forward logic for all the
// scheduled and retry sets of a server in one script (asynq sends one
// per set, each with its ZRANGEBYSCORE), and the worker runs one asynq
// server while idle (MultiFetch.OnTask and IdleFor tell it when to start
// and stop the others).
//
// # Moving to a new asynq release
//
// LayoutVersion names the asynq version mirrored; TestAsynqVersionPinned
// fails as soon as go.mod requires another. Then diff, between the two
// asynq tags:
//
//   - internal/base/base.go: the key functions (keys.go), the defaults of
//     client.go (version.go), and the fields of the task hash;
//   - internal/proto/asynq.proto: the field numbers and types of
//     TaskMessage (message.go);
//   - internal/rdb/rdb.go: the enqueue, enqueue-unique, schedule and
//     schedule-unique scripts (enqueue.go), dequeueCmd (asynqDequeueScript
//     in fetch.go, byte for byte), forwardCmd (asynqForwardScript in
//     serverclient.go, byte for byte, and forwardTogetherScript in
//     wake_forward.go, which repeats its body per set), archiveCmd and
//     retryCmd (archive.go, byte for byte), the enqueue-unique scripts and
//     the inspector's delete scripts (which release a lock holding the
//     task's ID), requeueCmd (orphan.go), and how the
//     server calls its scripts (go-redis Script.Run: EvalSha, then Eval;
//     serverclient.go);
//   - client.go (EnqueueContext, newTaskInfo) and processor.go (the order
//     of the queues it probes): Prepare and MultiFetch.
//
// The tests that tell: TestDequeueScriptIsAsynqs and
// TestForwardScriptIsAsynqs and TestArchiveScriptIsAsynqs (a bare asynq
// server's dequeue, forward and archive scripts have the SHA-1s
// ServerClient intercepts), TestForwardTogether,
// TestArchiveReleasesUntilEndLock, TestCancelSubscriptionDiverted,
// TestPrepareMatchesAsynq (tasks stored here read back through asynq's
// Inspector as those its client stores, with the same hash fields),
// TestFetchOneRoundTripPerTask, TestCountAndRecover (a real asynq server
// runs what was stored or recovered), the tests of package tasks that
// compare EnqueueMany with asynq's client (TestEnqueueManyMatchesAsynq),
// and internal/topologytest on Redis Cluster and Sentinel. When they all
// pass, update LayoutVersion.
package asynqrdb
