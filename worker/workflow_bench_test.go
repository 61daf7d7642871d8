package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// BenchmarkWorkflowOverhead runs b.N no-op tasks end to end (enqueue to
// done) through one worker at defaults: as plain tasks (EnqueueMany), as
// the steps of one workflow with no edges (a batch), and as b.N steps
// followed by one step after all of them (a chord). It reports the wall
// time, the worker process's CPU, Redis's CPU and the Redis commands per
// task.
//
//	go test -run XXX -bench WorkflowOverhead -benchtime 20000x ./worker/
func BenchmarkWorkflowOverhead(b *testing.B) {
	for _, shape := range []string{"plain", "batch", "chord"} {
		b.Run(shape, func(b *testing.B) { benchWorkflow(b, shape) })
	}
}

func benchWorkflow(b *testing.B, shape string) {
	srv := redistest.Start(b)
	ctx := b.Context()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.Queues = map[string]int{"default": 1}
	reg := tasks.NewRegistry()
	reg.MustRegister("noop", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{EnqueueTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	<-w.Ready()
	want := b.N
	if shape == "chord" {
		want++
	}
	cmds0, rcpu0, cpu0 := commandsProcessed(b, rdb), redisCPU(b, rdb), cpuTime()
	b.ResetTimer()
	switch shape {
	case "plain":
		reqs := make([]tasks.Request, b.N)
		for i := range reqs {
			reqs[i] = tasks.Request{Type: "noop"}
		}
		for _, r := range client.EnqueueMany(ctx, reqs, tasks.DefaultParallelism) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	default:
		wf := tasks.NewWorkflow()
		names := make([]string, b.N)
		for i := range names {
			names[i] = "s" + strconv.Itoa(i)
			wf.Step(names[i], "noop", nil)
		}
		if shape == "chord" {
			wf.Step("join", "noop", nil).After(names...)
		}
		if _, err := client.EnqueueWorkflow(ctx, wf); err != nil {
			b.Fatal(err)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	testutil.Poll(b, 10*time.Minute, "every task processed", func() bool {
		q, err := insp.GetQueueInfo("default")
		return err == nil && q.Processed >= want
	})
	b.StopTimer()
	cpu, rcpu, cmds := cpuTime()-cpu0, redisCPU(b, rdb)-rcpu0, commandsProcessed(b, rdb)-cmds0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(want), "cpu-µs/task")
	b.ReportMetric(float64(rcpu.Microseconds())/float64(want), "redis-cpu-µs/task")
	b.ReportMetric(float64(cmds)/float64(want), "redis-cmds/task")
}

// redisCPU is Redis's used_cpu_user plus used_cpu_sys.
func redisCPU(tb testing.TB, rdb *redis.Client) time.Duration {
	tb.Helper()
	info, err := rdb.Info(context.WithoutCancel(tb.Context()), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				var f float64
				_, _ = fmt.Sscan(v, &f)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkWorkflowMemory100k measures Redis's used_memory for 100,000
// no-op tasks: pending as plain tasks, pending as one workflow's steps
// (its state included), and once the workflow finished (what stays until
// enqueue.workflow_ttl: every step's state and the workflow's counts;
// asynq deletes the completed tasks themselves). Run it once:
//
//	go test -run XXX -bench WorkflowMemory100k -benchtime 1x ./worker/
func BenchmarkWorkflowMemory100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		srv := redistest.Start(b)
		ctx := b.Context()
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{EnqueueTimeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		base := usedMemory(b, rdb)
		reqs := make([]tasks.Request, n)
		for i := range reqs {
			reqs[i] = tasks.Request{Type: "noop"}
		}
		for _, r := range client.EnqueueMany(ctx, reqs, tasks.DefaultParallelism) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		plain := usedMemory(b, rdb) - base
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		base = usedMemory(b, rdb)
		wf := tasks.NewWorkflow()
		for i := range n {
			wf.Step("s"+strconv.Itoa(i), "noop", nil)
		}
		wf.OnComplete("noop", nil)
		start := time.Now()
		info, err := client.EnqueueWorkflow(ctx, wf)
		if err != nil {
			b.Fatal(err)
		}
		created := time.Since(start)
		pending := usedMemory(b, rdb) - base

		cfg := config.Default()
		cfg.Redis.Addr = srv.Addr()
		cfg.Worker.Listen = ""
		reg := tasks.NewRegistry()
		reg.MustRegister("noop", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
		w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(rctx) }()
		testutil.Poll(b, 10*time.Minute, "the workflow finished", func() bool {
			st, err := client.Workflow(ctx, info.ID)
			return err == nil && st.Finished != nil
		})
		insp := asynq.NewInspectorFromRedisClient(rdb)
		testutil.Poll(b, time.Minute, "the callback processed", func() bool {
			q, err := insp.GetQueueInfo("default")
			return err == nil && q.Pending == 0 && q.Active == 0
		})
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		finished := usedMemory(b, rdb) - base
		b.ReportMetric(float64(plain)/1e6, "MB-plain-pending")
		b.ReportMetric(float64(pending)/1e6, "MB-workflow-pending")
		b.ReportMetric(float64(finished)/1e6, "MB-workflow-finished")
		b.ReportMetric(created.Seconds(), "s-to-create")
		client.Close()
		rdb.Close()
	}
}

// usedMemory is Redis's used_memory in bytes.
func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	return infoInt(tb, rdb, "memory", "used_memory")
}
