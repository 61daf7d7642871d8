package redisserver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisserver"
)

// TestCluster starts a three-master cluster, stores a key on each node
// through a cluster client, checks that a multi-slot MSET fails with
// CROSSSLOT, and that Stop leaves no process and no open port.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := redisserver.StartCluster(ctx, redisserver.ClusterOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
	})
	if len(c.Nodes) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("%d nodes, %d addrs; want 3", len(c.Nodes), len(c.Addrs()))
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()

	// One key per node: pick keys until each node owns one.
	owner := map[string]string{} // node addr → key
	for i := 0; len(owner) < 3 && i < 1000; i++ {
		key := "k" + strconv.Itoa(i)
		for _, n := range c.Nodes {
			if _, err := redisserver.Do(ctx, n.Addr(), "GET", key); err == nil {
				if _, seen := owner[n.Addr()]; !seen {
					owner[n.Addr()] = key
				}
			}
		}
	}
	if len(owner) != 3 {
		t.Fatalf("keys found on %d nodes; want 3", len(owner))
	}
	for addr, key := range owner {
		if err := rdb.Set(ctx, key, addr, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
		got, err := redisserver.Do(ctx, addr, "GET", key)
		if err != nil || got != addr {
			t.Fatalf("GET %s on its node %s = %v, %v; want %q", key, addr, got, err, addr)
		}
	}
	keys := make([]string, 0, 3)
	for _, k := range owner {
		keys = append(keys, k)
	}
	err = rdb.Do(ctx, "MSET", keys[0], "1", keys[1], "2").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("multi-slot MSET: %v; want the CROSSSLOT error", err)
	}

	pids := make([]int, len(c.Nodes))
	for i, n := range c.Nodes {
		pids[i] = n.Pid()
		if pids[i] == 0 {
			t.Fatalf("node %d has no pid", i)
		}
	}
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	assertGone(t, pids, c.Addrs())
}

// assertGone fails the test unless every pid has exited and no addr
// accepts connections.
func assertGone(t *testing.T, pids []int, addrs []string) {
	t.Helper()
	for _, pid := range pids {
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs after Stop", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepts connections after Stop", addr)
		}
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
