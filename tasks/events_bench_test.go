package tasks_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// BenchmarkEnqueueEvents enqueues one task per operation with events off,
// on with nobody listening (the default) and on with a listener (the
// enqueue script then also appends the "enqueued" event, in the same
// round trip).
//
//	go test -run XXX -bench EnqueueEvents -benchtime 20000x ./tasks/
func BenchmarkEnqueueEvents(b *testing.B) {
	for _, bc := range []struct {
		name, mode string
		listener   bool
	}{
		{"off", "off", false},
		{"auto-nobody", "auto", false},
		{"auto-listener", "auto", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			if bc.listener {
				rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				rdb.Set(b.Context(), events.PresenceKey, "1", time.Hour)
				rdb.Close()
			}
			c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{Events: tasks.EventsOptions{Mode: bc.mode}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			payload := []byte(`{"to":"a@example.com"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Enqueue(b.Context(), "email:send", payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
