package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// TestScriptsAreAsynqs checks that the bulk path's scripts are byte for
// byte asynq's: once asynq's own client has run its four enqueue scripts,
// Redis knows the SHA-1 of each of ours.
func TestScriptsAreAsynqs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	ac := asynq.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()})
	defer ac.Close()
	for i, opts := range [][]asynq.Option{
		nil,
		{asynq.Unique(time.Minute)},
		{asynq.ProcessIn(time.Hour)},
		{asynq.ProcessIn(time.Hour), asynq.Unique(time.Minute)},
	} {
		if _, err := ac.EnqueueContext(ctx, asynq.NewTask("wire:x", []byte{byte(i)}), opts...); err != nil {
			t.Fatal(err)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	sc := newScripts()
	for name, s := range map[string]script{
		"enqueue": sc.enqueue, "enqueue unique": sc.enqueueUnique,
		"schedule": sc.schedule, "schedule unique": sc.scheduleUnique,
	} {
		ok, err := rdb.ScriptExists(ctx, s.sha).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !ok[0] {
			t.Errorf("script %q (sha %s) is not one asynq ran: it differs from asynq's", name, s.sha)
		}
	}
}
