package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/alicebob/miniredis/v2"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisserver"
)

// Redis choices for Options.Redis.
const (
	// RedisAuto starts redis-server when it is on PATH and an embedded
	// Redis otherwise. Options.External, when set, wins over both.
	RedisAuto = "auto"
	// RedisServer requires redis-server on PATH.
	RedisServer = "server"
	// RedisEmbedded always uses the embedded miniredis.
	RedisEmbedded = "embedded"
)

// Kinds of Redis reported in Summary.RedisKind.
const (
	KindExternal = "your Redis"
	KindServer   = "redis-server"
	KindEmbedded = "embedded miniredis"
)

// ErrUnknownRedis is returned for an Options.Redis value that is not one of
// RedisAuto, RedisServer or RedisEmbedded.
var ErrUnknownRedis = errors.New("unknown redis choice")

// redisHandle is a Redis the demo uses, with how to stop it.
type redisHandle struct {
	kind string
	addr string
	// desc is the one line printed about it.
	desc string
	stop func() error
}

// startRedis brings up the Redis the demo runs on. tmpDir holds the data of
// a throwaway redis-server.
func startRedis(ctx context.Context, opts Options, tmpDir string) (*redisHandle, error) {
	if ext := opts.External; ext != nil {
		addr := ext.Addr
		if ext.Mode != "" && ext.Mode != config.ModeStandalone {
			addr = ext.Mode + " " + strings.Join(ext.Addrs, ",")
		}
		return &redisHandle{
			kind: KindExternal,
			addr: addr,
			desc: fmt.Sprintf("redis: %s (from TUSKQ_REDIS_*; the demo adds tasks to its critical, default and low queues and leaves them there)", addr),
			stop: func() error { return nil },
		}, nil
	}
	choice := opts.Redis
	if choice == "" {
		choice = RedisAuto
	}
	switch choice {
	case RedisAuto:
		if _, err := exec.LookPath("redis-server"); err != nil {
			return startEmbedded("redis-server is not installed")
		}
		return startServer(ctx, tmpDir)
	case RedisServer:
		return startServer(ctx, tmpDir)
	case RedisEmbedded:
		return startEmbedded("chosen with --redis embedded")
	}
	return nil, fmt.Errorf("%w %q: use %s, %s or %s", ErrUnknownRedis, choice, RedisAuto, RedisServer, RedisEmbedded)
}

// startServer starts a throwaway redis-server with its data under tmpDir.
func startServer(ctx context.Context, tmpDir string) (*redisHandle, error) {
	dir := tmpDir + "/redis"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis data directory: %w", err)
	}
	srv, err := redisserver.Start(ctx, redisserver.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	return &redisHandle{
		kind: KindServer,
		addr: srv.Addr(),
		desc: fmt.Sprintf("redis: throwaway redis-server on %s (removed on exit)", srv.Addr()),
		stop: srv.Stop,
	}, nil
}

// startEmbedded starts miniredis on a free loopback port. miniredis only
// expires keys when its clock moves, so ClockTTL makes TTLs follow the wall
// clock; without it asynq's server heartbeats and unique locks never expire.
func startEmbedded(why string) (*redisHandle, error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	return &redisHandle{
		kind: KindEmbedded,
		addr: m.Addr(),
		desc: fmt.Sprintf("redis: embedded miniredis on %s (%s; the demo's tasks run on it, but install redis-server for real use)", m.Addr(), why),
		stop: func() error { m.Close(); return nil },
	}, nil
}
