package workercmd

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/fleetstate"
	"github.com/tuskq/tuskq/plugins/native"
	pexec "github.com/tuskq/tuskq/plugins/oneshot"
	"github.com/tuskq/tuskq/plugins/resident"
	"github.com/tuskq/tuskq/plugins/wasm"
	"github.com/tuskq/tuskq/processors"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// pluginRuntimes are the plugin runtimes of the worker binary. The wasm
// runtime caches compiled modules under plugins.cache_dir and sends its
// plugins' HTTP requests through the allow-list and dial guard of
// http:request (worker.http_allow_hosts).
func pluginRuntimes(cfg config.Config, cache string) (plugins.Runtimes, error) {
	guard, err := processors.NewHTTPGuard(cfg.Worker.HTTPAllowHosts)
	if err != nil {
		return nil, err
	}
	return plugins.Runtimes{
		plugins.RuntimeProcess: resident.New(resident.Options{}),
		plugins.RuntimeExec:    pexec.New(pexec.Options{}),
		plugins.RuntimeNative:  native.New(native.Options{}),
		plugins.RuntimeWasm:    wasm.New(wasm.Options{CacheDir: filepath.Join(cache, "wasm"), HTTP: guard}),
	}, nil
}

// pluginCacheDir returns plugins.cache_dir, or tuskq under the user's
// cache directory when it is empty.
func pluginCacheDir(cfg config.Config) (string, error) {
	if cfg.Plugins.CacheDir != "" {
		return cfg.Plugins.CacheDir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("plugins.cache_dir is empty and the user has no cache directory (%w); set plugins.cache_dir (TUSKQ_PLUGINS_CACHE_DIR) to an absolute path", err)
	}
	return filepath.Join(dir, "tuskq"), nil
}

// errFleetState marks a failure to reach the fleet-wide plugin state in
// Redis at start-up: a runtime failure (exit 1), not bad configuration.
var errFleetState = errors.New("plugins: cannot open the fleet state in Redis")

// Plugins is the plugin manager of a worker process and the fleet-wide
// plugin state it follows. The worker binary wires its plugins with it,
// and so does the worker of the fault tests (internal/faults/faultworker).
type Plugins struct {
	mgr    *plugins.Manager
	state  *fleetstate.State
	rdb    redis.UniversalClient
	syncer *fleetstate.Syncer
}

// OpenPlugins builds the plugin manager when plugins.dir is set, with the
// worker binary's runtimes, connected to the fleet-wide plugin state in
// Redis (enable/disable and config overrides, and this worker's report of
// what it loaded), and installs it as the registry's resolver; it returns
// nil when plugins are off. Run the manager with Start, and Close it once
// the worker has stopped.
func OpenPlugins(ctx context.Context, cfg config.Config, reg *tasks.Registry, logger *slog.Logger, environ []string) (*Plugins, error) {
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
	cache, err := pluginCacheDir(cfg)
	var runtimes plugins.Runtimes
	if err == nil {
		runtimes, err = pluginRuntimes(cfg, cache)
	}
	var trusted []ed25519.PublicKey
	for _, k := range cfg.Plugins.TrustedKeys {
		b, _ := base64.StdEncoding.DecodeString(k) // checked by config
		trusted = append(trusted, ed25519.PublicKey(b))
	}
	if err != nil {
		_ = state.Close(ctx)
		_ = rdb.Close()
		return nil, err
	}
	syncer := fleetstate.NewSyncer(fleetstate.SyncOptions{
		Store:       fleetstate.NewStore(rdb),
		PluginDir:   cfg.Plugins.Dir,
		CacheDir:    filepath.Join(cache, "bundles"),
		TrustedKeys: trusted,
		WorkerID:    state.WorkerID(),
		Changes:     state.Subscribe(),
		Logger:      logger,
	})
	mgr, err := plugins.NewManager(plugins.Options{
		Dir:            cfg.Plugins.Dir,
		Runtimes:       runtimes,
		Registry:       reg,
		Logger:         logger,
		Environ:        environ,
		AllowEnv:       cfg.Plugins.AllowEnv,
		ReloadDebounce: cfg.Plugins.ReloadDebounce,
		State:          state,
	})
	if err != nil {
		_ = state.Close(ctx)
		_ = rdb.Close()
		return nil, err
	}
	reg.SetResolver(mgr)
	return &Plugins{mgr: mgr, state: state, rdb: rdb, syncer: syncer}, nil
}

// Close withdraws this worker's report and closes the Redis connections.
func (p *Plugins) Close(ctx context.Context) {
	_ = p.state.Close(ctx)
	_ = p.rdb.Close()
}

// Start runs the plugin manager and waits until it has loaded the
// plugins. The manager outlives ctx's cancellation, so that the plugins
// serve the tasks the worker drains: stop ends it and returns its error.
// When ctx ends first, Start stops the manager and returns a nil stop and
// the manager's error (nil after a clean stop).
func (p *Plugins) Start(ctx context.Context) (stop func() error, err error) {
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Published wasm bundles are installed before the first scan, then
	// followed while the worker runs.
	p.syncer.Sync(ctx)
	done := make(chan error, 1)
	synced := make(chan struct{})
	go func() { done <- p.mgr.Run(mctx) }()
	go func() { p.syncer.Run(mctx); close(synced) }()
	stop = func() error {
		cancel()
		<-synced
		return <-done
	}
	select {
	case <-p.mgr.Ready():
		return sync.OnceValue(stop), nil
	case err := <-done:
		cancel()
		<-synced
		return nil, err
	case <-ctx.Done():
		return nil, stop() // a start-up error may come with the cancellation
	}
}

// Version returns the version of the loaded plugin serving taskType, ""
// for a type no plugin serves (or with p nil).
func (p *Plugins) Version(taskType string) string {
	if p == nil {
		return ""
	}
	for _, lp := range p.mgr.Loaded() {
		if lp.Status == plugins.StatusFailed {
			continue
		}
		if slices.Contains(lp.TaskTypes, taskType) {
			return lp.Version
		}
	}
	return ""
}

// PluginWorkerOptions returns o with the plugin hooks when plugins.dir is
// set: IsFailure is plugins.IsFailure, and RetryDelay (asynq's default
// when nil) is wrapped by plugins.RetryDelay, so that a task of a disabled
// plugin comes back after plugins.disabled_retry_delay without using up a
// retry.
func PluginWorkerOptions(cfg config.Config, o worker.Options) worker.Options {
	if cfg.Plugins.Dir == "" {
		return o
	}
	next := o.RetryDelay
	if next == nil {
		next = asynq.DefaultRetryDelayFunc
	}
	o.IsFailure = plugins.IsFailure
	o.RetryDelay = plugins.RetryDelay(next, cfg.Plugins.DisabledRetryDelay)
	return o
}

// withPlugins runs the plugin manager around body: it loads the plugins
// before body starts the worker, and stops them after the worker has
// drained its tasks. With ps nil it just calls body.
func withPlugins(ctx context.Context, ps *Plugins, stderr io.Writer, body func() int) int {
	if ps == nil {
		return body()
	}
	defer ps.Close(context.WithoutCancel(ctx))
	stop, err := ps.Start(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "worker:", strings.ReplaceAll(err.Error(), "\n", " "))
		return cli.ExitFailure
	}
	if stop == nil { // cancelled while the plugins loaded
		return cli.ExitOK
	}
	code := body()
	if err := stop(); err != nil {
		fmt.Fprintln(stderr, "worker: plugins:", err)
		return cli.ExitFailure
	}
	return code
}
