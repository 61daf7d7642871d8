package worker_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
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

// BenchmarkLimitsOverhead runs b.N no-op tasks through one worker with no
// limit, with one concurrency limit (above the worker's concurrency, so it
// never refuses) and with one rate limit (high enough never to refuse),
// and reports the worker process's CPU and the Redis commands per task
// (Redis's total_commands_processed, the enqueue included).
//
//	go test -run XXX -bench LimitsOverhead -benchtime 5000x ./worker/
func BenchmarkLimitsOverhead(b *testing.B) {
	for _, bc := range []struct {
		name  string
		limit []config.LimitConfig
	}{
		{"none", nil},
		{"concurrency", []config.LimitConfig{{Name: "c", Type: "noop", Concurrency: "1000"}}},
		{"rate", []config.LimitConfig{{Name: "r", Type: "noop", Rate: "1000000/s", Burst: "1000000"}}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchLimits(b, bc.limit) })
	}
}

func benchLimits(b *testing.B, ls []config.LimitConfig) {
	srv := redistest.Start(b)
	ctx := b.Context()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.Queues = map[string]int{"default": 1}
	cfg.Limits = ls
	reg := tasks.NewRegistry()
	reg.MustRegister("noop", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	ac := asynq.NewClientFromRedisClient(rdb)
	for i := range b.N {
		if _, err := ac.Enqueue(asynq.NewTask("noop", nil), asynq.TaskID(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	cmds0 := commandsProcessed(b, rdb)
	cpu0 := cpuTime()
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- w.Run(rctx) }()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	testutil.Poll(b, 10*time.Minute, "every task processed", func() bool {
		q, err := insp.GetQueueInfo("default")
		return err == nil && q.Pending == 0 && q.Active == 0
	})
	b.StopTimer()
	cpu := cpuTime() - cpu0
	cmds := commandsProcessed(b, rdb) - cmds0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/task")
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/task")
}

// commandsProcessed is Redis's total_commands_processed.
func commandsProcessed(tb testing.TB, rdb *redis.Client) int64 {
	return infoInt(tb, rdb, "stats", "total_commands_processed")
}

// infoInt is the integer field of INFO section.
func infoInt(tb testing.TB, rdb *redis.Client, section, field string) int64 {
	tb.Helper()
	info, err := rdb.Info(context.WithoutCancel(tb.Context()), section).Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("INFO %s: %s: %v", section, field, err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in INFO %s", field, section)
	return 0
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
