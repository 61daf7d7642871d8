// Package bench is the tuskq load benchmark behind cmd/bench and
// "make bench". On one Redis, in one run, it measures:
//
//   - throughput: a bare asynq server with a no-op handler against the
//     tuskq worker (package worker, full middleware) draining the same
//     pre-enqueued no-op tasks, with CPU per task of this process and of
//     Redis: both at their defaults (issue 6), and the tuskq worker with
//     one asynq server against bare asynq with tuskq's server settings
//     (issue 2's middleware cost);
//   - pickup latency (p50/p99/max), and the Redis commands/s and Redis CPU
//     of an idle worker, at default settings, tuskq and bare asynq;
//   - enqueue rate of tasks.Client.EnqueueMany (pipelined) and of the
//     enqueue CLI's --batch mode against a loop of tasks.Client.Enqueue and
//     of asynq.Client.Enqueue;
//   - the sweep: pickup latency and idle cost of the tuskq worker for idle
//     poll intervals from 5 ms to 1 s, with one queue and with three;
//   - the fleet: the Redis commands/s and CPU of 1 to 20 idle workers;
//   - the soak: 200,000 tasks across three processes of the stock worker
//     binary, with throughput, peak RSS of each worker, Redis memory, every
//     task counted, and a verdict on whether memory keeps growing.
//
// Targets are interleaved within each round (A, B, C, then B, C, A, …: the
// order rotates from round to round, so that no target always runs after
// the same one) and the report quotes the median of the rounds next to
// each round's value, because the machine the figures come from is noisy:
// compare only figures from the same run. Each goal of issues 2 and 6 is a
// row of the report marked met or not met.
//
// # Extending
//
// A processing server under test is a [Target] (see [BareAsynq],
// [BareAsynqOn] and [TuskqWorker]); a producer path is an [Enqueuer].
// Options takes the lists to compare, and cmd/bench's --targets picks
// throughput targets by key from [ThroughputCatalog], so a variant is one
// more catalog entry rather than a new driver. Ratios are computed round by
// round between two target keys (Section.addRatio).
//
// Go benchmarks in this package (go test -run '^$' -bench . ./internal/bench/)
// give quick signals without the full run: the middleware chain around a
// no-op processor against the bare processor, and Enqueue against
// EnqueueMany on a throwaway redis-server.
package bench
