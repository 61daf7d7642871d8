package events_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/redistest"
)

// BenchmarkPublish measures one task's worth of worker events (started
// without waiting, succeeded waiting for the write) from 8 goroutines per
// core, with nobody listening and with a listener.
//
//	go test -run XXX -bench Publish -benchmem ./internal/events/
func BenchmarkPublish(b *testing.B) {
	for _, listener := range []bool{false, true} {
		name := "nobody"
		if listener {
			name = "listener"
		}
		b.Run(name, func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rdb.Close()
			if listener {
				rdb.Set(b.Context(), events.PresenceKey, "1", time.Hour)
			}
			p, err := events.NewPublisher(rdb, events.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ev := events.Event{Queue: "default", TaskType: "email:send", TaskID: "0b7c4e1a-5d2f-4c3b-9a8e-1f2d3c4b5a69",
				TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Attempt: 1}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := b.Context()
				for pb.Next() {
					s := ev
					s.Kind = events.KindStarted
					_ = p.PublishAsync(ctx, s)
					s.Kind = events.KindSucceeded
					if err := p.Publish(ctx, s); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
