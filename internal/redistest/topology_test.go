package redistest_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisserver"
	"github.com/tuskq/tuskq/internal/redistest"
)

// configGet returns CONFIG GET name at addr.
func configGet(t *testing.T, addr, name string) string {
	t.Helper()
	v, err := redisserver.Do(t.Context(), addr, "CONFIG", "GET", name)
	if err != nil {
		t.Fatalf("CONFIG GET %s at %s: %v", name, addr, err)
	}
	arr, _ := v.([]any)
	if len(arr) != 2 {
		t.Fatalf("CONFIG GET %s at %s: %v", name, addr, v)
	}
	s, _ := arr[1].(string)
	return s
}

// TestStartClusterOptions starts a two-master cluster with extra
// arguments on every node and uses it through a cluster client.
func TestStartClusterOptions(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.WithMasters(2), redistest.WithArgs("--maxmemory", "64mb"))
	if len(c.Nodes) != 2 {
		t.Fatalf("%d nodes; want 2", len(c.Nodes))
	}
	for _, addr := range c.Addrs() {
		if got := configGet(t, addr, "maxmemory"); got != "67108864" {
			t.Errorf("%s: maxmemory %s; want 67108864", addr, got)
		}
	}
	ctx := t.Context()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := rdb.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 4 {
		t.Fatalf("DBSIZE over the cluster = %d, %v; want 4", n, err)
	}
}

// TestStartSentinelOptions starts a sentinel setup under another master
// name with extra data-node arguments and writes through a failover
// client.
func TestStartSentinelOptions(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t,
		redistest.WithMasterName("other"),
		redistest.WithArgs("--min-replicas-to-write", "1"),
		redistest.WithDownAfter(2*time.Second),
	)
	if s.MasterName != "other" {
		t.Fatalf("master name %q; want other", s.MasterName)
	}
	for _, d := range s.Data {
		if got := configGet(t, d.Addr(), "min-replicas-to-write"); got != "1" {
			t.Errorf("%s: min-replicas-to-write %s; want 1", d.Addr(), got)
		}
	}
	for _, sn := range s.Sentinels {
		v, err := redisserver.Do(t.Context(), sn.Addr(), "SENTINEL", "MASTER", "other")
		if err != nil {
			t.Fatal(err)
		}
		arr, _ := v.([]any)
		for i := 0; i+1 < len(arr); i += 2 {
			if arr[i] == "down-after-milliseconds" && arr[i+1] != "2000" {
				t.Errorf("sentinel %s: down-after-milliseconds %v; want 2000", sn.Addr(), arr[i+1])
			}
		}
	}
	ctx := t.Context()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "other", SentinelAddrs: s.Addrs()})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := s.Master(ctx)
	if err != nil || m != s.Data[0] {
		t.Fatalf("Master = %v, %v; want Data[0]", m, err)
	}
}
