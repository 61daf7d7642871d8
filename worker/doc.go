// Package worker is the tuskq worker runtime: it builds an asynq server from
// a config.Config, serves every task through a tasks.Registry wrapped in the
// tuskq middleware, and exposes /healthz, /readyz and /metrics.
//
//	w, err := worker.New(worker.Options{Config: cfg, Logger: logger, Registry: reg})
//	if err != nil { … }                  // bad options or configuration
//	err = w.Run(ctx)                     // blocks until ctx is cancelled
//
// # Middleware order
//
// Each task goes through (see [NewHandler]), outermost first:
//
//	tasks.Instrument  in one frame, in this order:
//	  context         trace context and task fields into ctx (tasks.Context)
//	  log line        one "task done" / "task failed" line per attempt (tasks.Log)
//	  metrics         tuskq_tasks_* per task type and queue (tasks.Metrics)
//	  recover         a panic becomes a failed attempt, logged with its stack (tasks.Recover)
//	Options.Middleware
//	the Registry      dispatch by type; unknown types fail with ErrNoProcessor
//
// The context comes first so that every line logged below it (the task line,
// the panic line, the processor's own lines) carries trace_id, span_id,
// task_id, task_type, queue and retry. The recovery is innermost so that a
// panic is logged and counted as the failed attempt it is. tasks.Instrument
// behaves as the chain of the four separate middlewares named above, at a
// fraction of its cost per task (docs/benchmarks.md).
//
// # Fetching
//
// A worker runs Options.Servers asynq servers (DefaultServers, 4) in its
// process. Each has its own fetch loop, asynq fetching one task per round
// trip per loop; worker.concurrency is split between them, and they share
// the handler, the metrics and the Redis connection pool. With
// worker.wake push (the default) only the first runs while the worker is
// idle, waiting in Redis for wake-up tokens; the others are spares that
// start when the first meets a backlog (two fetches in a row returned a
// task, or all its slots are busy) and stop after SpareIdle without a task
// (Options.SpareIdle), so an idle worker costs Redis what one asynq server
// costs. With worker.wake poll they all run, and when every queue is empty
// the first server polls every worker.task_check_interval and the others
// every SecondaryTaskCheckInterval. asynq's server list (and asynqmon)
// shows one entry per running server, all with the worker's host and PID.
//
// Each server reaches Redis through a wrapper of the go-redis client that
// changes two kinds of asynq's calls in transit (asynq v0.26.0's scripts;
// tests check that they are asynq's): with several queues, outside Redis
// Cluster, a fetch is one script trying the queues in asynq's own order,
// rather than one round trip per queue probed (fetch.go); and the scripts
// that record what became of each task share round trips when they are
// called at the same time (batch.go). The numbers are in
// docs/benchmarks.md and docs/operations.md.
//
// # Shutdown
//
// When the context given to Run is cancelled, the worker shuts down the way
// asynq's Server.Shutdown does (asynq v0.26.0, server.go and processor.go):
//
//  1. It stops fetching: no new task is taken from Redis. /readyz answers 503
//     from this moment; /healthz and /metrics keep answering until the end.
//  2. Tasks in flight keep running, with their contexts intact, for up to
//     worker.shutdown_timeout (0 skips the wait: tasks are handed back at
//     once).
//  3. When the timeout expires, each task still running is handed back to
//     Redis: it is moved from active back to the head of its pending queue
//     with its retry count unchanged, so the next worker to fetch picks it up
//     first and no attempt is charged. Only then is the task's context
//     cancelled; a processor that honours ctx returns soon after, and asynq
//     ignores its result (the task line and metrics still record that
//     attempt as failed with the context error). A processor that ignores ctx keeps running until the
//     process exits: make processors idempotent.
//  4. Run returns once every task has finished or been handed back.
//
// A task whose hand-back fails (Redis unreachable at that moment) stays
// active under its lease and is recovered as an orphan (below); it is not
// lost either.
//
// # Orphaned tasks
//
// A task is orphaned when its worker died (SIGKILL, OOM, a lost node) or
// lost Redis while running it: it stays active in Redis and its lease,
// which a live worker extends every 5 s by 30 s, expires. Every worker
// checks its queues every worker.orphan_check_interval (5 s) and hands each
// task whose lease expired more than worker.orphan_grace (5 s) ago back to
// the head of its queue, with its retry count unchanged (internal/asynqrdb):
// the task runs again 30 to 40 s after the crash (36 s measured), on the same attempt.
// asynq's own recoverer, still running beside it, would take 90 to 150 s
// more and charge a retry; when it gets to a task first (tuskq's check
// turned off), the worker's RetryDelayFunc and IsFailure treat
// asynq.ErrLeaseExpired as no failure and no delay. tuskq_orphaned_tasks
// and tuskq_orphaned_tasks_recovered_total count them per queue.
//
// # Completion records
//
// With worker.completion_record on, a task whose handler returned nil is
// recorded in Redis (key "tuskq:{<queue>}:done:<task ID>", for
// worker.completion_record_ttl), and a task that arrives with such a record
// is acknowledged without running its handler. It covers a handler that
// completed while Redis was unreachable long enough for the task to become
// an orphan: without the record it would run twice. A task ID enqueued
// again within the TTL after its task completed is skipped too: use fresh
// IDs (tuskq's producers do) for new work.
//
// [Worker.Pause] (SIGTSTP in cmd/worker) performs only step 1: the worker
// finishes what it holds and fetches nothing more until it is shut down.
// asynq cannot resume a paused server; restart the process instead.
package worker
