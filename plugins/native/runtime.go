package native

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"plugin"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/waitgroup"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/native/sdk"
)

// Options configures the native runtime.
type Options struct {
	// CacheDir receives a copy of each library before it is loaded, named
	// by the SHA-256 of its contents (see the package documentation). It is
	// created with mode 0700 when missing and must belong to the worker's
	// user and not be writable by group or others. Empty means
	// $TMPDIR/tuskq-native-UID. Copies are not removed: a loaded library
	// stays in use until the process exits.
	CacheDir string
}

// Runtime loads native plugins. It implements plugins.Runtime; it is safe
// for concurrent use. A worker needs one Runtime: Go's plugin loader is
// process-wide.
type Runtime struct {
	cacheDir string
	host     host

	mu     sync.Mutex
	libs   map[string]*library // by cached path
	failed map[string]error    // cached path → its load error
}

// library is one loaded shared library.
type library struct {
	Library
	plugin sdk.Plugin
}

// Library describes a library the runtime has loaded. It stays mapped until
// the process exits.
type Library struct {
	// Source is the entry file it was first loaded from.
	Source string
	// Path is its copy in the cache directory, the file actually loaded.
	Path string
	// SHA256 is the hex digest of its contents.
	SHA256 string
	// Size is its size in bytes.
	Size int64
	// Name and Version are what its Plugin reports.
	Name, Version string
	// LoadedAt is when it was loaded.
	LoadedAt time.Time
}

var _ plugins.Runtime = (*Runtime)(nil)

// New returns the native runtime.
func New(opts Options) *Runtime {
	dir := opts.CacheDir
	if dir == "" {
		dir = defaultCacheDir()
	}
	return &Runtime{cacheDir: dir, host: currentHost(), libs: map[string]*library{}, failed: map[string]error{}}
}

// Libraries returns the libraries loaded so far, oldest first. Each reload
// to a new build adds one; none is ever removed (Go cannot unload them).
func (r *Runtime) Libraries() []Library {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Library, 0, len(r.libs))
	for _, l := range r.libs {
		out = append(out, l.Library)
	}
	slices.SortFunc(out, func(a, b Library) int { return a.LoadedAt.Compare(b.LoadedAt) })
	return out
}

// Start loads spec.Entry (or reuses it when the same bytes were loaded
// before), checks the exported Plugin against the manifest and validates
// the manifest's configuration defaults. Its errors wrap the sentinel of
// the condition that failed (see the package documentation) and name the
// fix.
func (r *Runtime) Start(ctx context.Context, spec plugins.Spec) (plugins.Instance, error) {
	m := spec.Manifest
	if m == nil {
		return nil, errors.New("native: Start: spec has no manifest")
	}
	lib, err := r.load(spec)
	if err != nil {
		return nil, fmt.Errorf("native: %s %s: %w", m.Name, m.Version, err)
	}
	p := lib.plugin
	if name, version := p.Name(), p.Version(); name != m.Name || version != m.Version {
		return nil, fmt.Errorf("native: %s %s: %w: %s reports Name() %q and Version() %q, but its manifest %s says name %q and version %q; make them equal and rebuild (make plugins)",
			m.Name, m.Version, ErrIdentity, spec.Entry, name, version, m.File, m.Name, m.Version)
	}
	if err := validate(p, m.Config); err != nil {
		return nil, fmt.Errorf("native: %s %s: %w: Validate(config defaults of %s): %w", m.Name, m.Version, ErrConfig, m.File, err)
	}
	logger := spec.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := &instance{plugin: p, name: m.Name, version: m.Version, logger: logger}
	in.valid.cfg, in.valid.ok = m.Config, true
	return in, nil
}

// load returns the library at spec.Entry, loading it when its contents are
// new. It reads the entry through spec.OpenEntry: what it loads is what
// the Manager checked.
func (r *Runtime) load(spec plugins.Spec) (*library, error) {
	entry := spec.Entry
	if err := r.host.check(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock() // plugin.Open is serialised anyway; so are we
	if err := prepareCacheDir(r.cacheDir); err != nil {
		return nil, err
	}
	path, digest, size, err := cacheCopy(r.cacheDir, spec)
	if err != nil {
		return nil, err
	}
	if lib, ok := r.libs[path]; ok {
		return lib, nil
	}
	// A path that failed once must never be opened again: Go remembers the
	// failure, and after some failures a second Open blocks forever.
	if err, ok := r.failed[path]; ok {
		return nil, err
	}
	lib, err := r.open(entry, path)
	if err != nil {
		r.failed[path] = err
		return nil, err
	}
	lib.SHA256, lib.Size = digest, size
	r.libs[path] = lib
	return lib, nil
}

// open checks the library's build against the worker's, then maps it and
// looks up its Plugin.
func (r *Runtime) open(entry, path string) (*library, error) {
	info, err := readLibInfo(path, entry)
	if err != nil {
		return nil, err
	}
	if err := r.host.compare(entry, info); err != nil {
		return nil, err
	}
	pl, err := plugin.Open(path)
	if err != nil {
		return nil, classifyOpen(err, entry, r.host.info, info)
	}
	sym, err := pl.Lookup(sdk.SymbolName)
	if err != nil {
		return nil, classifyLookup(err, entry)
	}
	p, err := asPlugin(sym, entry)
	if err != nil {
		return nil, err
	}
	return &library{
		Library: Library{Source: entry, Path: path, Name: p.Name(), Version: p.Version(), LoadedAt: time.Now()},
		plugin:  p,
	}, nil
}

// validate calls p.Validate, turning a panic into an error.
func validate(p sdk.Plugin, cfg map[string]any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return p.Validate(cfg)
}

// instance is a started native plugin. Closing it stops its use; the
// library stays loaded.
type instance struct {
	plugin  sdk.Plugin
	name    string
	version string
	logger  *slog.Logger

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	// valid caches the verdict of Validate on the last configuration seen,
	// so that Validate runs once per configuration change, not per task.
	valid struct {
		sync.Mutex
		cfg map[string]any
		ok  bool
		err error
	}
}

// Process runs t through the plugin's ProcessTask with the configuration,
// logger and result slot of package sdk in ctx.
func (in *instance) Process(ctx context.Context, t *asynq.Task, meta plugins.Meta) ([]byte, error) {
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return nil, plugins.ErrClosed
	}
	in.inflight.Add(1)
	in.mu.RUnlock()
	defer in.inflight.Done()

	if err := in.checkConfig(meta.Config); err != nil {
		return nil, err
	}
	ctx, result := sdk.NewContext(ctx, meta.Config, in.logger)
	if err := in.call(ctx, t); err != nil {
		return nil, err
	}
	return result(), nil
}

// checkConfig validates cfg when it differs from the last one validated.
func (in *instance) checkConfig(cfg map[string]any) error {
	v := &in.valid
	v.Lock()
	defer v.Unlock()
	if !sameConfig(cfg, v.cfg) {
		v.cfg = cfg
		v.err = validate(in.plugin, cfg)
		v.ok = v.err == nil
		if v.err != nil {
			in.logger.Error("native plugin rejects its configuration; its tasks fail until it is fixed",
				"error", v.err)
		}
	}
	if !v.ok {
		return fmt.Errorf("native: %w: Validate: %w; fix the override with: worker plugins config %s KEY=VALUE", ErrConfig, v.err, in.name)
	}
	return nil
}

// sameConfig reports whether a and b hold equal values. It runs on every
// task, so scalar values are compared directly and only nested ones with
// reflect.DeepEqual.
func sameConfig(a, b map[string]any) bool {
	if len(a) != len(b) { // a nil and an empty map are the same configuration
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		switch x := av.(type) {
		case string, float64, bool, int, int64, nil:
			if av != bv {
				return false
			}
		default:
			if !reflect.DeepEqual(x, bv) {
				return false
			}
		}
	}
	return true
}

// call runs ProcessTask, turning a panic into an error with its stack.
func (in *instance) call(ctx context.Context, t *asynq.Task) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("native: panic in ProcessTask: %v\n%s", v, debug.Stack())
		}
	}()
	return in.plugin.ProcessTask(ctx, t)
}

// Close waits for the tasks in flight (until ctx ends) and stops accepting
// new ones. The library stays loaded: Go cannot unload it.
func (in *instance) Close(ctx context.Context) error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	if err := waitgroup.Wait(ctx, &in.inflight); err != nil {
		return fmt.Errorf("native: %s %s: close: tasks still in flight: %w", in.name, in.version, err)
	}
	return nil
}
