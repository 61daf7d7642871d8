package redisserver_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisserver"
)

func startSentinel(t *testing.T) *redisserver.Sentinel {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := redisserver.StartSentinel(ctx, redisserver.SentinelOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// role returns the first element of ROLE at addr ("master", "slave").
func role(ctx context.Context, addr string) string {
	v, err := redisserver.Do(ctx, addr, "ROLE")
	if err != nil {
		return err.Error()
	}
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return ""
	}
	s, _ := arr[0].(string)
	return s
}

// waitValue polls GET key at addr until it returns want.
func waitValue(t *testing.T, ctx context.Context, addr, key, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := redisserver.Do(ctx, addr, "GET", key)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s at %s = %v, %v; want %q", key, addr, got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSentinelFailover writes on the master and reads it on the replica,
// fails over by SENTINEL FAILOVER, checks the roles swapped, and that Stop
// leaves no process.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	s := startSentinel(t)
	if s.MasterName != "tuskq" || len(s.Data) != 2 || len(s.Addrs()) != 3 {
		t.Fatalf("master name %q, %d data nodes, %d sentinels; want tuskq, 2, 3", s.MasterName, len(s.Data), len(s.Addrs()))
	}
	m, err := s.Master(ctx)
	if err != nil || m != s.Data[0] {
		t.Fatalf("Master = %v, %v; want Data[0]", m, err)
	}
	if _, err := redisserver.Do(ctx, s.Data[0].Addr(), "SET", "k", "v1"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, ctx, s.Data[1].Addr(), "k", "v1")
	if _, err := redisserver.Do(ctx, s.Data[1].Addr(), "SET", "k", "x"); err == nil ||
		err.Error() != "READONLY You can't write against a read only replica." {
		t.Fatalf("SET on the replica: %v; want READONLY", err)
	}

	addr, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if addr != s.Data[1].Addr() {
		t.Fatalf("new master %s; want the replica %s", addr, s.Data[1].Addr())
	}
	if got, err := s.MasterAddr(ctx); err != nil || got != addr {
		t.Fatalf("MasterAddr = %s, %v; want %s", got, err, addr)
	}
	if r := role(ctx, addr); r != "master" {
		t.Fatalf("ROLE of the new master: %s", r)
	}
	if _, err := redisserver.Do(ctx, addr, "SET", "k", "v2"); err != nil {
		t.Fatalf("SET on the new master: %v", err)
	}
	// The sentinels turn the old master into a replica of the new one.
	waitValue(t, ctx, s.Data[0].Addr(), "k", "v2")
	if r := role(ctx, s.Data[0].Addr()); r != "slave" {
		t.Fatalf("ROLE of the old master: %s; want slave", r)
	}

	var pids []int
	var addrs []string
	for _, n := range append(append([]*redisserver.Server{}, s.Data...), s.Sentinels...) {
		pids = append(pids, n.Pid())
		addrs = append(addrs, n.Addr())
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	assertGone(t, pids, addrs)
}

// TestSentinelKillMaster kills the master with SIGKILL while a go-redis
// failover client writes: WaitFailover reports the replica within 30 s,
// the client writes again, and the killed master, restarted, rejoins as a
// replica of the new master.
func TestSentinelKillMaster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	s := startSentinel(t)
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs()})
	defer rdb.Close()

	var written atomic.Int64
	var lastErr atomic.Value
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			err := rdb.Set(wctx, "n:"+strconv.Itoa(i), i, 0).Err()
			wcancel()
			if err != nil {
				lastErr.Store(err.Error())
				time.Sleep(20 * time.Millisecond) // back off while there is no master
				continue
			}
			written.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()
	waitWritten := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for written.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d writes acknowledged; want %d (last error: %v)", written.Load(), n, lastErr.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitWritten(50)

	old := s.Data[0]
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	addr, err := s.WaitFailover(wctx, old.Addr())
	wcancel()
	if err != nil {
		t.Fatalf("no failover within 30 s: %v", err)
	}
	t.Logf("failover after %v", time.Since(killed).Round(time.Millisecond))
	if addr != s.Data[1].Addr() {
		t.Fatalf("new master %s; want the replica %s", addr, s.Data[1].Addr())
	}
	after := written.Load()
	waitWritten(after + 50)

	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(40 * time.Second)
	for role(ctx, old.Addr()) != "slave" {
		if time.Now().After(deadline) {
			t.Fatalf("restarted old master has ROLE %s after 40 s; want slave", role(ctx, old.Addr()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := redisserver.Do(ctx, addr, "SET", "rejoin", "1"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, ctx, old.Addr(), "rejoin", "1")
	if m, err := s.Master(ctx); err != nil || m != s.Data[1] {
		t.Fatalf("Master = %v, %v; want Data[1]", m, err)
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}
