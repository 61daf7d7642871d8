// Package redistest gives each test its own throwaway Redis on free
// loopback ports, stopped when the test ends: a standalone redis-server
// (Start), a Redis Cluster (StartCluster) or a master and replica watched by
// sentinels (StartSentinel). Tests never share a Redis, so they can run in
// parallel and never need FLUSHALL.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redisserver"
)

// Server is a redis-server started for one test.
type Server struct {
	*redisserver.Server
}

// settings collects what the options set; each Start function reads the
// fields that apply to its topology.
type settings struct {
	appendOnly      string
	args            []string
	masters         int
	masterName      string
	downAfter       time.Duration
	failoverTimeout time.Duration
}

// Option changes how a Redis is started. Options that do not apply to a
// topology (WithMasters for a sentinel setup, say) are ignored by it.
type Option func(*settings)

// ClusterOption is an option of StartCluster: WithAppendOnly, WithArgs
// (for every node) and WithMasters.
type ClusterOption = Option

// SentinelOption is an option of StartSentinel: WithAppendOnly, WithArgs
// (for the master and the replica), WithMasterName, WithDownAfter and
// WithFailoverTimeout.
type SentinelOption = Option

// WithAppendOnly turns AOF persistence on with the given fsync policy
// ("always" or "everysec"), for tests that restart Redis.
func WithAppendOnly(fsync string) Option {
	return func(s *settings) { s.appendOnly = fsync }
}

// WithArgs passes extra arguments to redis-server (every cluster node; the
// data nodes of a sentinel setup).
func WithArgs(args ...string) Option {
	return func(s *settings) { s.args = append(s.args, args...) }
}

// WithMasters sets the number of cluster masters (default 3).
func WithMasters(n int) ClusterOption {
	return func(s *settings) { s.masters = n }
}

// WithMasterName sets the name the sentinels monitor the master under
// (default "tuskq").
func WithMasterName(name string) SentinelOption {
	return func(s *settings) { s.masterName = name }
}

// WithDownAfter sets how long the sentinels wait before they consider the
// master down (default 3s).
func WithDownAfter(d time.Duration) SentinelOption {
	return func(s *settings) { s.downAfter = d }
}

// WithFailoverTimeout sets the sentinels' failover-timeout (default 5s).
func WithFailoverTimeout(d time.Duration) SentinelOption {
	return func(s *settings) { s.failoverTimeout = d }
}

func collect(opts []Option) settings {
	var s settings
	for _, opt := range opts {
		opt(&s)
	}
	return s
}

// startTimeout bounds starting any topology on a loaded machine.
const startTimeout = 60 * time.Second

// Start launches a redis-server for the test and registers its stop with
// t.Cleanup. The test fails at once when redis-server is not installed.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := collect(opts)
	srv := launch(tb, "stop", func(ctx context.Context, dir string) (*redisserver.Server, error) {
		return redisserver.Start(ctx, redisserver.Options{Dir: dir, AppendOnly: s.appendOnly, Args: s.args})
	})
	return &Server{Server: srv}
}

// StartCluster launches a Redis Cluster of masters (3 unless WithMasters)
// for the test, returns it once every node serves every slot, and
// registers its stop with t.Cleanup.
func StartCluster(tb testing.TB, opts ...ClusterOption) *redisserver.Cluster {
	tb.Helper()
	s := collect(opts)
	return launch(tb, "stop cluster", func(ctx context.Context, dir string) (*redisserver.Cluster, error) {
		return redisserver.StartCluster(ctx, redisserver.ClusterOptions{
			Dir: dir, Masters: s.masters, AppendOnly: s.appendOnly, Args: s.args,
		})
	})
}

// StartSentinel launches a master, its replica and three sentinels for the
// test, returns them once the sentinels agree on the setup, and registers
// their stop with t.Cleanup. Point clients at Addrs() with MasterName.
func StartSentinel(tb testing.TB, opts ...SentinelOption) *redisserver.Sentinel {
	tb.Helper()
	s := collect(opts)
	return launch(tb, "stop sentinel setup", func(ctx context.Context, dir string) (*redisserver.Sentinel, error) {
		return redisserver.StartSentinel(ctx, redisserver.SentinelOptions{
			Dir: dir, MasterName: s.masterName, AppendOnly: s.appendOnly, Args: s.args,
			DownAfter: s.downAfter, FailoverTimeout: s.failoverTimeout,
		})
	})
}

// launch starts a topology in a temporary directory of the test within
// startTimeout, failing the test on error, and registers its stop with
// t.Cleanup; a failed stop is reported as "redistest: <what>: <error>".
func launch[T interface{ Stop() error }](tb testing.TB, what string, start func(ctx context.Context, dir string) (T, error)) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), startTimeout)
	defer cancel()
	v, err := start(ctx, tb.TempDir())
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := v.Stop(); err != nil {
			tb.Errorf("redistest: %s: %v", what, err)
		}
	})
	return v
}
