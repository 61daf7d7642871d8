package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/plugins"
	pexec "github.com/tuskq/tuskq/plugins/exec"
	"github.com/tuskq/tuskq/plugins/fleetstate"
	"github.com/tuskq/tuskq/plugins/native"
	"github.com/tuskq/tuskq/plugins/process"
	"github.com/tuskq/tuskq/tasks"
)

// pluginRuntimes are the plugin runtimes of the worker binary.
func pluginRuntimes() plugins.Runtimes {
	return plugins.Runtimes{
		plugins.RuntimeProcess: process.New(process.Options{}),
		plugins.RuntimeExec:    pexec.New(pexec.Options{}),
		plugins.RuntimeNative:  native.New(native.Options{}),
	}
}

// errFleetState marks a failure to reach the fleet-wide plugin state in
// Redis at start-up: a runtime failure (exit 1), not bad configuration.
var errFleetState = errors.New("plugins: cannot open the fleet state in Redis")

// pluginSet is the plugin manager of a worker and the fleet-wide state it
// follows.
type pluginSet struct {
	mgr   *plugins.Manager
	state *fleetstate.State
	rdb   redis.UniversalClient
}

// newPlugins builds the plugin manager when plugins.dir is set, connected
// to the fleet-wide plugin state in Redis (enable/disable and config
// overrides, and this worker's report of what it loaded), and installs it
// as the registry's resolver; it returns nil when plugins are off.
func newPlugins(ctx context.Context, cfg config.Config, reg *tasks.Registry, logger *slog.Logger, environ []string) (*pluginSet, error) {
	if cfg.Plugins.Dir == "" {
		return nil, nil
	}
	if err := plugins.CheckDir(cfg.Plugins.Dir, os.Geteuid()); err != nil {
		return nil, err
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		return nil, err
	}
	state, err := fleetstate.Open(ctx, rdb, fleetstate.Options{Logger: logger})
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("%w at %s: %w", errFleetState, redisconn.Describe(cfg.Redis), err)
	}
	mgr, err := plugins.NewManager(plugins.Options{
		Dir:            cfg.Plugins.Dir,
		Runtimes:       pluginRuntimes(),
		Registry:       reg,
		Logger:         logger,
		Environ:        environ,
		ReloadDebounce: cfg.Plugins.ReloadDebounce,
		State:          state,
	})
	if err != nil {
		_ = state.Close(ctx)
		_ = rdb.Close()
		return nil, err
	}
	reg.SetResolver(mgr)
	return &pluginSet{mgr: mgr, state: state, rdb: rdb}, nil
}

// close withdraws this worker's report and closes the Redis connections.
func (p *pluginSet) close(ctx context.Context) {
	_ = p.state.Close(ctx)
	_ = p.rdb.Close()
}

// pluginIsFailure is plugins.IsFailure when plugins are on: a task of a
// disabled plugin comes back without using up a retry.
func pluginIsFailure(cfg config.Config) func(error) bool {
	if cfg.Plugins.Dir == "" {
		return nil
	}
	return plugins.IsFailure
}

// pluginRetryDelay wraps the worker's retry delay so that tasks of a
// disabled plugin come back after plugins.disabled_retry_delay.
func pluginRetryDelay(cfg config.Config, next asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	if cfg.Plugins.Dir == "" {
		return next
	}
	return plugins.RetryDelay(next, cfg.Plugins.DisabledRetryDelay)
}

// withPlugins runs the plugin manager around body: it loads the plugins
// before body starts the worker, and stops them after the worker has
// drained its tasks. With mgr nil it just calls body.
func withPlugins(ctx context.Context, ps *pluginSet, stderr io.Writer, body func() int) int {
	if ps == nil {
		return body()
	}
	defer ps.close(context.WithoutCancel(ctx))
	mgr := ps.mgr
	// Plugins outlive ctx's cancellation until the worker has stopped.
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Run(mctx) }()
	select {
	case <-mgr.Ready():
	case err := <-done:
		fmt.Fprintln(stderr, "worker:", strings.ReplaceAll(err.Error(), "\n", " "))
		return cli.ExitFailure
	case <-ctx.Done():
		cancel()
		if err := <-done; err != nil { // a start-up error that came with the cancellation
			fmt.Fprintln(stderr, "worker:", strings.ReplaceAll(err.Error(), "\n", " "))
			return cli.ExitFailure
		}
		return cli.ExitOK
	}
	code := body()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(stderr, "worker: plugins:", err)
		return cli.ExitFailure
	}
	return code
}
