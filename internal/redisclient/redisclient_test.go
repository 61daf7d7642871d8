package redisclient_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisclient"
)

func TestNewPicksTheTopologyAndCarriesSettings(t *testing.T) {
	t.Parallel()
	base := redisclient.Options{
		Addr: "127.0.0.1:1", Addrs: []string{"127.0.0.1:2"}, MasterName: "m",
		Username: "u", Password: "p", DB: 3, PoolSize: 7,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
	}

	c := redisclient.New(base)
	defer c.Close()
	sc, ok := c.(*redis.Client)
	if !ok {
		t.Fatalf("standalone: %T, want *redis.Client", c)
	}
	o := sc.Options()
	if o.Addr != "127.0.0.1:1" || o.Username != "u" || o.Password != "p" || o.DB != 3 || o.PoolSize != 7 ||
		o.ReadTimeout != 2*time.Second || !o.ContextTimeoutEnabled || o.MaxRetries != 3 {
		t.Errorf("standalone options = %+v", o)
	}

	base.NoRetries = true
	nr := redisclient.New(base)
	defer nr.Close()
	if got := nr.(*redis.Client).Options().MaxRetries; got != 0 { // go-redis stores -1 as 0
		t.Errorf("NoRetries: MaxRetries = %d, want 0 (no re-sends)", got)
	}

	base.Topology = redisclient.Cluster
	base.MaxRedirects = 5
	cc := redisclient.New(base)
	defer cc.Close()
	cl, ok := cc.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster: %T, want *redis.ClusterClient", cc)
	}
	if co := cl.Options(); co.Addrs[0] != "127.0.0.1:2" || co.MaxRedirects != 5 || co.PoolSize != 7 || !co.ContextTimeoutEnabled {
		t.Errorf("cluster options = %+v", co)
	}

	base.Topology = redisclient.Sentinel
	fc := redisclient.New(base)
	defer fc.Close()
	if _, ok := fc.(*redis.Client); !ok {
		t.Fatalf("sentinel: %T, want a failover *redis.Client", fc)
	}
}
