// Package redistest gives each test its own throwaway redis-server on a free
// loopback port, stopped when the test ends. Tests never share a Redis, so
// they can run in parallel and never need FLUSHALL.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redisproc"
)

// Server is a redis-server started for one test.
type Server struct {
	*redisproc.Server
}

// Option changes how the server is started.
type Option func(*redisproc.Options)

// WithAppendOnly turns AOF persistence on with the given fsync policy
// ("always" or "everysec"), for tests that restart Redis.
func WithAppendOnly(fsync string) Option {
	return func(o *redisproc.Options) { o.AppendOnly = fsync }
}

// WithArgs passes extra arguments to redis-server.
func WithArgs(args ...string) Option {
	return func(o *redisproc.Options) { o.Args = append(o.Args, args...) }
}

// Start launches a redis-server for the test and registers its stop with
// t.Cleanup. The test fails at once when redis-server is not installed.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	o := redisproc.Options{Dir: tb.TempDir()}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := redisproc.Start(ctx, o)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("redistest: stop: %v", err)
		}
	})
	return &Server{Server: s}
}
