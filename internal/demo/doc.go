// Package demo runs the tuskq demo behind 'make demo': on a machine with
// only Go it brings up Redis, two worker processes, the monitor, a local
// webhook endpoint and a producer, prints a status line every few seconds,
// and on Ctrl-C (or after --duration) stops everything it started and
// prints a summary of what was processed.
//
// Redis is, in order of preference: the user's own when TUSKQ_REDIS_ADDR
// is set (the demo leaves its tasks there); a throwaway redis-server on a
// free loopback port when one is installed (internal/redisserver; its data
// lives in a temporary directory removed on exit); otherwise an embedded
// miniredis in the demo process, with ClockTTL on so that keys expire by
// the wall clock as asynq expects.
//
// The workers and the monitor are the real binaries (from --bin-dir, or
// built with the go command into a temporary directory), each in its own
// process group so that the terminal's Ctrl-C reaches only the demo, which
// then stops the producer, sends SIGTERM to the workers (they finish the
// tasks in flight) and waits for every process. Their JSON logs go to
// .demo/logs/worker-N.log and .demo/logs/monitor.log, which are kept.
//
// The producer enqueues a round of about ten tasks a second through
// tasks.Client: demo:echo to critical, demo:sleep to default, delayed
// demo:sleep to low, http:request calls of the local webhook endpoint
// (which answers 200, and now and then 503, retried, or 404, not retried),
// and demo:fail tasks that fail once then succeed, fail without retry, or
// fail with no retry budget. The summary reads asynq's per-queue counters
// through the Inspector, relative to their values when the demo began.
//
// Exit status of Main: 0 when tasks were processed, 1 when the demo failed
// or processed nothing (so CI can smoke-test it), 2 for bad usage.
package demo
