package worker

import (
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// DefaultServers is the number of asynq servers a worker process runs when
// Options.Servers is 0.
const DefaultServers = 4

// SecondaryTaskCheckInterval is how long the servers of a worker other
// than the first wait, when every queue is empty, before they poll again
// (worker.task_check_interval when that is longer). While there is work no
// server waits; when there is none, the first server alone polls often, so
// the pickup latency of an idle worker is that of one fast-polling server
// and its cost in Redis commands grows little with the number of servers.
// It is not longer because asynq finishes a server's sleep before it
// shuts it down: a shutdown or pause waits up to 1.5 times this long.
const SecondaryTaskCheckInterval = 250 * time.Millisecond

// SecondaryDelayedTaskCheckInterval is, with worker.wake push, how often the
// servers of a worker other than the first forward due scheduled and retry
// tasks (worker.delayed_task_check_interval when that is longer): the first
// forwards at worker.delayed_task_check_interval, and the wake-up tokens it
// pushes reach every waiting server.
const SecondaryDelayedTaskCheckInterval = 10 * time.Second

// SecondaryWakeFallback is, with worker.wake push, how long an idle server
// of a worker other than the first goes without fetching when no wake-up
// token comes (worker.wake_fallback when that is longer); the first
// fetches every worker.wake_fallback.
const SecondaryWakeFallback = 10 * time.Second

// JanitorInterval is, with worker.wake push, how often the worker's asynq
// servers delete completed tasks whose retention (tasks.EnqueueOptions
// Retention) has passed: asynq's default is 8 s, a script and its
// ZRANGEBYSCORE per queue each time, a tenth of an idle worker's Redis
// commands. Completed tasks past their retention stay listed up to this
// much longer.
const JanitorInterval = 30 * time.Second

// servers returns how many asynq servers run for concurrency: Options.Servers
// (DefaultServers when 0), but never more than the concurrency, so that
// each server has at least one slot.
func servers(opt, concurrency int) int {
	n := opt
	if n <= 0 {
		n = DefaultServers
	}
	return max(1, min(n, concurrency))
}

// splitConcurrency divides total slots among n servers as evenly as
// possible, the first servers taking the remainder.
func splitConcurrency(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

// group is the asynq servers of one worker process. They share the
// handler (registry, middleware, metrics) and the Redis client, and are
// started, stopped and shut down together.
type group []*asynq.Server

// each calls f on every server at once and waits for all of them, so that
// shutting down n servers takes as long as the slowest, not their sum.
func (g group) each(f func(*asynq.Server)) {
	var wg sync.WaitGroup
	for _, s := range g {
		wg.Go(func() { f(s) })
	}
	wg.Wait()
}

// stop makes every server stop fetching new tasks.
func (g group) stop() { g.each((*asynq.Server).Stop) }

// shutdown shuts every server down gracefully (see asynq.Server.Shutdown).
func (g group) shutdown() { g.each((*asynq.Server).Shutdown) }
