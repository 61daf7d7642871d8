package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/tasks"
)

// Metric names of the enqueue phase.
const (
	MetricEnqueueRate = "enqueue rate"
	MetricClientCPU   = "producer CPU per task"
)

// Enqueuer is one way of putting n tasks of TaskType into the queue
// "default". New producer paths (the CLI's batch mode, a pipelined bulk
// path) are new Enqueuers.
type Enqueuer struct {
	// Key identifies the enqueuer in JSON output and ratios.
	Key string
	// Name is shown in the report.
	Name string
	// Prepare, when set, builds what Enqueue needs outside the timed span.
	Prepare func(n int) any
	// Enqueue stores n tasks and returns the first error.
	Enqueue func(ctx context.Context, env *Env, n int, prepared any) error
}

// Enqueuer keys of the default enqueuers.
const (
	KeyMany      = "many"
	KeyLoop      = "loop"
	KeyAsynqLoop = "asynq-loop"
	KeyCLIBatch  = "cli-batch"
)

// BulkGoal is issue 6's target for bulk enqueue from one process, in
// tasks/s.
const BulkGoal = 45000

// enqueuePayload is the payload of every enqueued task.
var enqueuePayload = []byte(`{"n":1}`)

// DefaultEnqueuers are compared by the enqueue phase: tasks.Client's bulk
// path at its default parallelism, the enqueue CLI's batch mode, a loop of
// tasks.Client.Enqueue, and a loop of asynq.Client.Enqueue for reference.
func DefaultEnqueuers() []Enqueuer {
	return []Enqueuer{
		{
			Key:  KeyCLIBatch,
			Name: "enqueue --batch (the CLI, in-process)",
			Prepare: func(n int) any {
				var b bytes.Buffer
				for range n {
					fmt.Fprintf(&b, `{"type":%q,"payload":%s}`+"\n", TaskType, enqueuePayload)
				}
				return b.Bytes()
			},
			Enqueue: func(ctx context.Context, env *Env, n int, prepared any) error {
				var stderr bytes.Buffer
				code := enqueuecli.Run(ctx, []string{"--batch"}, enqueuecli.Env{
					Stdin:   bytes.NewReader(prepared.([]byte)),
					Stdout:  io.Discard,
					Stderr:  &stderr,
					Environ: []string{"TUSKQ_REDIS_ADDR=" + env.Addr},
				})
				if code != 0 {
					return fmt.Errorf("enqueue --batch exited %d: %s", code, stderr.String())
				}
				return nil
			},
		},
		{
			Key:  KeyMany,
			Name: fmt.Sprintf("tasks.Client.EnqueueMany (parallelism %d)", tasks.DefaultParallelism),
			Prepare: func(n int) any {
				reqs := make([]tasks.Request, n)
				for i := range reqs {
					reqs[i] = tasks.Request{Type: TaskType, Payload: enqueuePayload}
				}
				return reqs
			},
			Enqueue: func(ctx context.Context, env *Env, _ int, prepared any) error {
				for i, r := range env.Client.EnqueueMany(ctx, prepared.([]tasks.Request), 0) {
					if r.Err != nil {
						return fmt.Errorf("task %d: %w", i+1, r.Err)
					}
				}
				return nil
			},
		},
		{
			Key:  KeyLoop,
			Name: "tasks.Client.Enqueue, one at a time",
			Enqueue: func(ctx context.Context, env *Env, n int, _ any) error {
				for i := range n {
					if _, err := env.Client.Enqueue(ctx, TaskType, enqueuePayload, nil); err != nil {
						return fmt.Errorf("task %d: %w", i+1, err)
					}
				}
				return nil
			},
		},
		{
			Key:  KeyAsynqLoop,
			Name: "asynq.Client.Enqueue, one at a time (reference)",
			Enqueue: func(ctx context.Context, env *Env, n int, _ any) error {
				for i := range n {
					if _, err := env.Asynq.EnqueueContext(ctx, asynq.NewTask(TaskType, enqueuePayload)); err != nil {
						return fmt.Errorf("task %d: %w", i+1, err)
					}
				}
				return nil
			},
		},
	}
}

// runEnqueue times each enqueuer over opts.Tasks tasks, round by round.
func runEnqueue(ctx context.Context, env *Env, opts Options) (Section, error) {
	var s series
	for round := 1; round <= opts.Rounds; round++ {
		for _, e := range rotate(opts.Enqueuers, round) {
			r, err := enqueueOnce(ctx, env, opts.Tasks, e)
			if err != nil {
				return Section{}, fmt.Errorf("round %d, %s: %w", round, e.Name, err)
			}
			progress(opts, "enqueue    round %d/%d  %-40s %8s tasks/s  producer %6s µs/task  redis %6s µs/task",
				round, opts.Rounds, e.Name, Format(r.rate, 0), Format(r.clientCPU, 1), Format(r.redisCPU, 1))
			t := Target{Key: e.Key, Name: e.Name}
			s.add(t, MetricEnqueueRate, "tasks/s", 0, r.rate)
			s.add(t, MetricClientCPU, "µs", 1, r.clientCPU)
			s.add(t, MetricRedisCPU, "µs", 1, r.redisCPU)
		}
	}
	sec := Section{
		Key:   PhaseEnqueue,
		Title: fmt.Sprintf("Enqueue: %s tasks from one process", Format(float64(opts.Tasks), 0)),
		About: fmt.Sprintf(`Each measurement flushes the database, enqueues %s tasks of type %s (payload %s, queue "default") and checks that exactly that many are pending. The rate is tasks / wall time of the enqueue calls; building the request slice for EnqueueMany, and the JSON lines for the CLI, is not timed. EnqueueMany pipelines asynq's own enqueue script through go-redis, BulkBatchSize tasks per round trip (asynq v0.26.0 has no batch enqueue). The CLI runs in this process (internal/enqueuecli.Run, what cmd/enqueue calls) with --batch, reading the JSON lines from memory and writing its per-task output lines to io.Discard. Producer CPU is the user+system CPU of the benchmark process over the enqueue calls, Redis CPU the delta of INFO used_cpu_user+used_cpu_sys, both per task. tasks.Client adds a traceparent header to every task (a new trace per task here).`,
			Format(float64(opts.Tasks), 0), TaskType, enqueuePayload),
		Rows: s.done(),
	}
	sec.addRatio("EnqueueMany / Enqueue loop (issue 2: ≥ 3)", MetricEnqueueRate, KeyMany, KeyLoop, 3)
	sec.addGoal("EnqueueMany, tasks/s (issue 6: ≥ 45,000)", MetricEnqueueRate, KeyMany, BulkGoal, false, 0)
	sec.addGoal("enqueue --batch, tasks/s (issue 6: ≥ 45,000)", MetricEnqueueRate, KeyCLIBatch, BulkGoal, false, 0)
	sec.addRatio("tasks.Client.Enqueue loop / asynq.Client.Enqueue loop", MetricEnqueueRate, KeyLoop, KeyAsynqLoop, 0)
	return sec, nil
}

// enqueueResult is one timed enqueue of n tasks.
type enqueueResult struct {
	rate      float64 // tasks/s
	clientCPU float64 // µs per task
	redisCPU  float64 // µs per task
}

// enqueueOnce times one enqueuer on an empty database.
func enqueueOnce(ctx context.Context, env *Env, n int, e Enqueuer) (enqueueResult, error) {
	if err := env.reset(ctx); err != nil {
		return enqueueResult{}, err
	}
	var prepared any
	if e.Prepare != nil {
		prepared = e.Prepare(n)
	}
	runtime.GC()
	before, err := env.snapshot(ctx)
	if err != nil {
		return enqueueResult{}, err
	}
	start := time.Now()
	if err := e.Enqueue(ctx, env, n, prepared); err != nil {
		return enqueueResult{}, err
	}
	el := time.Since(start)
	after, err := env.snapshot(ctx)
	if err != nil {
		return enqueueResult{}, err
	}
	qi, err := env.queueInfo(ctx)
	if err != nil {
		return enqueueResult{}, err
	}
	if qi.Pending != int64(n) {
		return enqueueResult{}, fmt.Errorf("enqueued %d tasks but the default queue holds %d pending", n, qi.Pending)
	}
	return enqueueResult{
		rate:      float64(n) / el.Seconds(),
		clientCPU: perTaskMicros(after.selfCPU-before.selfCPU, int64(n)),
		redisCPU:  perTaskMicros(after.redisCPU-before.redisCPU, int64(n)),
	}, nil
}
