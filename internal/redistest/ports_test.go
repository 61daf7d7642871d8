package redistest_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// assertRefused checks that a dial to addr is refused and that no listener
// can take addr.
func assertRefused(t *testing.T, addr string) {
	t.Helper()
	_, err := net.Dial("tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s = %v; want connection refused", addr, err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		_ = l.Close()
		t.Errorf("net.Listen(%s) succeeded; want the port held", addr)
	}
}

func TestUnreachableAddr(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t)
	assertRefused(t, addr)
	err := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}).Ping(t.Context()).Err()
	if want := "dial tcp " + addr + ": connect: connection refused"; err == nil || err.Error() != want {
		t.Errorf("PING = %v; want %q", err, want)
	}
}

func TestGateDownAndUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	g := redistest.NewGate(t, srv.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: g.Addr(), MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the gate: %v", err)
	}
	if err := g.Down(); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, g.Addr())
	if err := rdb.Get(ctx, "k").Err(); err == nil {
		t.Error("GET with the gate down succeeded")
	}
	if err := rdb.Get(ctx, "k").Err(); err == nil || err.Error() != "dial tcp "+g.Addr()+": connect: connection refused" {
		t.Errorf("second GET with the gate down = %v; want connection refused", err)
	}
	if err := g.Up(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET after Up = %q, %v; want v (the server kept its data)", v, err)
	}
}
