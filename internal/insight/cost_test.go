package insight_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// totalCalls sums the calls of every command in INFO commandstats.
func totalCalls(tb testing.TB, rdb redis.UniversalClient) int {
	tb.Helper()
	info, err := rdb.Info(tb.Context(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile(`cmdstat_[a-z|]+:calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		c, _ := strconv.Atoi(m[1])
		n += c
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInsightTick measures one tick of the monitor's engine on a
// real Redis with 100 task types on 20 queues run by 20 workers: the
// CPU it costs the monitor and the Redis commands it sends. Reproduce
// with
//
//	go test -run '^$' -bench BenchmarkInsightTick -benchtime 200x ./internal/insight/
//
// cpu-ms/tick over the 5 s interval is the monitor's CPU share; redis-
// cmds/tick over 5 s its commands per second (the INFO calls of the
// measurement are subtracted).
func BenchmarkInsightTick(b *testing.B) {
	const types, queues, workers = 100, 20, 20
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	var qs []string
	for q := range queues {
		name := fmt.Sprintf("q%02d", q)
		qs = append(qs, name)
		for range 10 {
			if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(name)); err != nil {
				b.Fatal(err)
			}
		}
	}
	now := time.Now()
	clock := func() time.Time { return now }
	recs := make([]*insight.Recorder, workers)
	for i := range recs {
		recs[i] = insight.NewRecorder(insight.RecorderOptions{Worker: fmt.Sprintf("host-%02d:1:abc", i), Queues: qs, Now: clock})
	}
	store := insight.NewStore(rdb)
	r, err := insight.NewRunner(store, insight.RunnerOptions{Owner: "m1", Now: clock,
		Queues: func(ctx context.Context) ([]insight.QueueStat, error) {
			names, err := asynqrdb.Queues(ctx, rdb)
			if err != nil {
				return nil, err
			}
			sizes, err := asynqrdb.QueueSizes(ctx, rdb, names)
			out := make([]insight.QueueStat, len(sizes))
			for i, s := range sizes {
				out[i] = insight.QueueStat{Name: s.Queue, Pending: int(s.Pending), Done: int(s.Processed)}
			}
			return out, err
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	n := 0
	work := func() {
		now = now.Add(insight.DefaultInterval)
		for _, rec := range recs {
			for range types {
				n++
				typ := fmt.Sprintf("type:%03d", n%types)
				failed := n%97 == 0
				rec.Sink(typ, qs[n%types%queues]).Observe(time.Duration(n%200)*time.Millisecond, failed, failed,
					insight.Example{TaskID: strconv.Itoa(n), Error: "boom"})
			}
			if err := store.Publish(ctx, rec.Snapshot(), time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 20 { // fill the window
		work()
		if err := r.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var cpu time.Duration
	cmds := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		work()
		before := totalCalls(b, rdb)
		b.StartTimer()
		c0 := cpuTime()
		if err := r.Step(ctx); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		b.StopTimer()
		cmds += totalCalls(b, rdb) - before - 1 // less this INFO
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/tick")
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/tick")
	snap := recs[0].Snapshot()
	b.ReportMetric(float64(len(snap.Series)), "series/worker")
	js, _ := json.Marshal(snap)
	b.ReportMetric(float64(len(js)), "snapshot-bytes")
}

// BenchmarkSinkObserve is what a worker adds per successful attempt: a
// few atomic additions (a failed attempt also takes a lock and
// normalizes its error text).
//
//	go test -run '^$' -bench BenchmarkSinkObserve ./internal/insight/
func BenchmarkSinkObserve(b *testing.B) {
	rec := insight.NewRecorder(insight.RecorderOptions{Worker: "w"})
	s := rec.Sink("email:send", "default")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Observe(3*time.Millisecond, false, false, insight.Example{})
		}
	})
}

// BenchmarkInstrument compares the worker's metrics middleware per
// attempt without and with the insight aggregates observing it.
//
//	go test -run '^$' -bench BenchmarkInstrument -cpu 1 ./internal/insight/
func BenchmarkInstrument(b *testing.B) {
	for _, observe := range []bool{false, true} {
		b.Run(fmt.Sprintf("insight=%v", observe), func(b *testing.B) {
			m, err := tasks.NewMetrics(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			if observe {
				m.Observe(insight.NewRecorder(insight.RecorderOptions{Worker: "w"}).Observer())
			}
			p := tasks.Instrument(tasks.InstrumentOptions{Metrics: m})(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
			task := asynq.NewTask("email:send", nil)
			ctx := b.Context()
			for b.Loop() {
				_ = p.ProcessTask(ctx, task)
			}
		})
	}
}
