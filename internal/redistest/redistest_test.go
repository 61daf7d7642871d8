package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

func TestStartRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t, redistest.WithAppendOnly("always"))
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("ping after kill succeeded; want an error")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	got, err := rdb.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("get after restart = %q, %v; want \"v\" (AOF always keeps it)", got, err)
	}
}

func TestParallelServersAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ra := redis.NewClient(&redis.Options{Addr: a.Addr()})
	rb := redis.NewClient(&redis.Options{Addr: b.Addr()})
	defer ra.Close()
	defer rb.Close()
	if err := ra.Set(ctx, "only-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rb.Exists(ctx, "only-a").Result(); err != nil || n != 0 {
		t.Fatalf("exists on b = %d, %v; want 0", n, err)
	}
}

func TestFreezeUntilAndCommandCalls(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	before := redistest.CommandCalls(t, rdb, "set")
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := redistest.CommandCalls(t, rdb, "set"); got != before+1 {
		t.Fatalf("set calls = %d; want %d", got, before+1)
	}
	thaw := s.FreezeUntil(t)
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := rdb.WithTimeout(200 * time.Millisecond).Ping(tctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING answered while frozen")
	}
	thaw()
	thaw() // a second call, and the cleanup's, do nothing
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after thaw: %v", err)
	}
}
