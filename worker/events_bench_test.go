package worker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// BenchmarkEventsOverhead runs b.N no-op tasks through one worker with
// events off, on with nobody listening (the default), on with a listener
// registered, and always on, and reports the worker process's CPU, the
// Redis commands per task and the throughput. The tasks are enqueued
// beforehand with asynq's client (no "enqueued" events: see
// tasks.BenchmarkEnqueueEvents for the producer's side).
//
//	go test -run XXX -bench EventsOverhead -benchtime 20000x ./worker/
func BenchmarkEventsOverhead(b *testing.B) {
	for _, bc := range []struct {
		name     string
		mode     string
		listener bool
	}{
		{"off", "off", false},
		{"auto-nobody", "auto", false},
		{"auto-listener", "auto", true},
		{"always", "always", false},
	} {
		b.Run(bc.name, func(b *testing.B) { benchEvents(b, bc.mode, bc.listener) })
	}
}

func benchEvents(b *testing.B, mode string, listener bool) {
	srv := redistest.Start(b)
	ctx := b.Context()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.Queues = map[string]int{"default": 1}
	cfg.Events.Publish = mode
	reg := tasks.NewRegistry()
	reg.MustRegister("noop", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	ac := asynq.NewClientFromRedisClient(rdb)
	for i := range b.N {
		if _, err := ac.Enqueue(asynq.NewTask("noop", nil), asynq.TaskID(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	if listener {
		rdb.Set(ctx, events.PresenceKey, "1", time.Hour)
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
	start := time.Now()
	go func() { done <- w.Run(rctx) }()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	testutil.Poll(b, 10*time.Minute, "every task processed", func() bool {
		q, err := insp.GetQueueInfo("default")
		return err == nil && q.Pending == 0 && q.Active == 0
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	cmds := commandsProcessed(b, rdb) - cmds0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if n := rdb.XLen(context.WithoutCancel(ctx), events.StreamKey("default")).Val(); (n > 0) != (mode == "always" || listener) {
		b.Fatalf("mode %s listener %v: %d events written", mode, listener, n)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/task")
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/task")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
}
