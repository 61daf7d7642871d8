// Package bench is the tuskq load benchmark behind cmd/bench and
// "make bench". On one Redis, in one run, it measures:
//
//   - throughput: a bare asynq server with a no-op handler against the
//     tuskq worker (package worker, full middleware) draining the same
//     pre-enqueued no-op tasks, with CPU per task of this process and of
//     Redis; plus bare asynq with tuskq's poll interval and with all of
//     tuskq's server settings, to separate middleware cost from settings;
//   - pickup latency (p50/p99/max) and the Redis commands/s of an idle
//     worker at default settings, tuskq and bare asynq;
//   - enqueue rate of tasks.Client.EnqueueMany against a loop of
//     tasks.Client.Enqueue and of asynq.Client.Enqueue.
//
// Targets are interleaved within each round (A, B, A, B, …) and the report
// quotes the median of the rounds next to each round's value, because the
// machine the figures come from is noisy: compare only figures from the
// same run.
//
// # Extending
//
// A processing server under test is a [Target] (see [BareAsynq] and
// [TuskqWorker]); a producer path is an [Enqueuer]. Options takes the
// lists to compare, so a sweep of poll intervals, a worker with several
// asynq servers, or the CLI's batch path is one more entry rather than a
// new driver. Ratios are computed round by round between two target keys
// (Section.addRatio).
//
// Go benchmarks in this package (go test -run '^$' -bench . ./internal/bench/)
// give quick signals without the full run: the middleware chain around a
// no-op processor against the bare processor, and Enqueue against
// EnqueueMany on a throwaway redis-server.
package bench
