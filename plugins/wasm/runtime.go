package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tuskq/tuskq/plugins"
)

// Defaults of Options.
const (
	// DefaultMemory caps an instance's linear memory when the manifest
	// sets no limits.memory.
	DefaultMemory = 64 << 20
	// DefaultMaxResult bounds a task's result (set_result).
	DefaultMaxResult = 16 << 20
	// MaxModuleSize bounds a module file.
	MaxModuleSize = 64 << 20
	// pageSize is the WebAssembly page size.
	pageSize = 64 << 10
)

var (
	// ErrABI is wrapped by the load error of a module that does not
	// implement the wasm plugin ABI (a missing or mistyped export, another
	// ABI version, an unknown import).
	ErrABI = errors.New("module does not implement the tuskq wasm ABI")
	// ErrTimeLimit is wrapped by the error of a task stopped at its time
	// limit; its instance is discarded and the task is retried.
	ErrTimeLimit = errors.New("wasm plugin stopped at its time limit")
	// ErrTrap is wrapped by the error of a task whose instance trapped,
	// panicked, exited or ran out of memory; the instance is discarded.
	ErrTrap = errors.New("wasm plugin instance failed")
	// ErrHTTPUnavailable is wrapped by the load error of a plugin granted
	// sandbox.http on a worker that gives the runtime no HTTP guard.
	ErrHTTPUnavailable = errors.New("outbound HTTP is not available to wasm plugins on this worker")
)

// HTTPDoer sends the requests of the http_request host function. The
// worker passes processors.HTTPGuard: the allow-list and dial guard of
// http:request.
type HTTPDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Options configures the wasm runtime.
type Options struct {
	// CacheDir holds wazero's compilation cache, so that a worker restart
	// does not compile the same module again. It is created with mode
	// 0700. Empty keeps compiled code in memory only.
	CacheDir string
	// HTTP sends the requests of plugins granted sandbox.http. Nil refuses
	// to load such plugins.
	HTTP HTTPDoer
	// DefaultMemory caps the memory of instances whose manifest sets no
	// limits.memory (DefaultMemory when 0).
	DefaultMemory int64
	// MaxResult bounds a task's result (DefaultMaxResult when 0).
	MaxResult int
	// MaxHTTPBody bounds an HTTP response body handed to a plugin (1 MiB
	// when 0).
	MaxHTTPBody int64
}

// Runtime runs wasm plugins. It implements plugins.Runtime and is safe for
// concurrent use.
type Runtime struct {
	opts Options

	cacheOnce sync.Once
	cache     wazero.CompilationCache
	cacheErr  error
}

var _ plugins.Runtime = (*Runtime)(nil)

// New returns the wasm runtime.
func New(opts Options) *Runtime {
	if opts.DefaultMemory <= 0 {
		opts.DefaultMemory = DefaultMemory
	}
	if opts.MaxResult <= 0 {
		opts.MaxResult = DefaultMaxResult
	}
	if opts.MaxHTTPBody <= 0 {
		opts.MaxHTTPBody = 1 << 20
	}
	return &Runtime{opts: opts}
}

// compilationCache opens the on-disk cache once (nil when CacheDir is
// empty).
func (r *Runtime) compilationCache() (wazero.CompilationCache, error) {
	r.cacheOnce.Do(func() {
		if r.opts.CacheDir == "" {
			r.cache = wazero.NewCompilationCache()
			return
		}
		if err := os.MkdirAll(r.opts.CacheDir, 0o700); err != nil {
			r.cacheErr = fmt.Errorf("wasm: compilation cache %s: %w", r.opts.CacheDir, err)
			return
		}
		r.cache, r.cacheErr = wazero.NewCompilationCacheWithDir(r.opts.CacheDir)
		if r.cacheErr != nil {
			r.cacheErr = fmt.Errorf("wasm: compilation cache %s: %w", r.opts.CacheDir, r.cacheErr)
		}
	})
	return r.cache, r.cacheErr
}

// Close releases the compilation cache (its files stay on disk). Close it
// after every instance is closed.
func (r *Runtime) Close(ctx context.Context) error {
	if r.cache == nil {
		return nil
	}
	return r.cache.Close(ctx)
}

// Start compiles the module at spec.Entry (or takes it from the cache),
// checks that it implements the ABI, and makes one instance to prove that
// it initialises. Later instances are made as tasks need them, up to
// limits.max_concurrency.
func (r *Runtime) Start(ctx context.Context, spec plugins.Spec) (plugins.Instance, error) {
	m := spec.Manifest
	if m == nil {
		return nil, errors.New("wasm: Start: spec has no manifest")
	}
	if m.Sandbox.HTTP && r.opts.HTTP == nil {
		return nil, fmt.Errorf("wasm: %s %s: %w: the manifest grants sandbox.http; remove it, or run the worker with worker.http_allow_hosts", m.Name, m.Version, ErrHTTPUnavailable)
	}
	code, err := readEntry(spec)
	if err != nil {
		return nil, fmt.Errorf("wasm: %s %s: %w", m.Name, m.Version, err)
	}
	cache, err := r.compilationCache()
	if err != nil {
		return nil, err
	}
	memory := m.Limits.Memory
	if memory <= 0 {
		memory = r.opts.DefaultMemory
	}
	logger := spec.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &pool{
		rt:      r,
		name:    m.Name,
		version: m.Version,
		memory:  memory,
		logger:  logger,
		spec:    spec,
	}
	// NewRuntimeConfig picks wazero's optimising compiler where it has
	// one (amd64, arm64), its interpreter elsewhere. WithCloseOnContextDone
	// is the time limit: the compiled code checks for cancellation at every
	// loop iteration, which is most of a Go guest's cost per task
	// (docs/benchmarks.md) and what stops a guest that never returns.
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(memory / pageSize)).
		WithCompilationCache(cache)
	p.wr = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := p.setup(ctx, code); err != nil {
		_ = p.wr.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("wasm: %s %s: %w", m.Name, m.Version, err)
	}
	return p, nil
}

// readEntry reads the checked entry, bounded by MaxModuleSize.
func readEntry(spec plugins.Spec) ([]byte, error) {
	f, err := spec.OpenEntry()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	code, err := io.ReadAll(io.LimitReader(f, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", spec.Entry, err)
	}
	if len(code) > MaxModuleSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", spec.Entry, MaxModuleSize)
	}
	return code, nil
}

// setup instantiates WASI and the host module, compiles the guest, checks
// its ABI and makes its first instance.
func (p *pool) setup(ctx context.Context, code []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.wr); err != nil {
		return fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHost(ctx, p.wr); err != nil {
		return err
	}
	compiled, err := p.wr.CompileModule(ctx, code)
	if err != nil {
		return fmt.Errorf("compile %s: %w (is it a WebAssembly module within limits.memory of %d bytes?)", p.spec.Entry, err, p.memory)
	}
	if err := checkExports(compiled); err != nil {
		return fmt.Errorf("%w: %s: %w; see docs/plugins.md, \"The wasm ABI\"", ErrABI, p.spec.Entry, err)
	}
	if err := checkImports(compiled); err != nil {
		return fmt.Errorf("%w: %s: %w; see docs/plugins.md, \"The wasm ABI\"", ErrABI, p.spec.Entry, err)
	}
	p.compiled = compiled
	p.modConfig, err = moduleConfig(p.spec)
	if err != nil {
		return err
	}
	g, err := p.instantiate(ctx)
	if err != nil {
		return err
	}
	res, err := g.abi.Call(ctx)
	if err != nil {
		g.close(ctx)
		return fmt.Errorf("%s: %w", ExportABIVersion, err)
	}
	if v := api.DecodeI32(res[0]); v != ABIVersion {
		g.close(ctx)
		return fmt.Errorf("%w: %s: %s returns %d; this worker implements ABI version %d: rebuild the plugin with a guest SDK of that version",
			ErrABI, p.spec.Entry, ExportABIVersion, v, ABIVersion)
	}
	p.idle = append(p.idle, g)
	return nil
}

// signature is a function type as "(i32,i32)->i32".
func signature(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ",")
	}
	return "(" + name(params) + ")->(" + name(results) + ")"
}

var wantExports = map[string]string{
	ExportABIVersion: "()->(i32)",
	ExportAlloc:      "(i32)->(i32)",
	ExportHandle:     "(i32,i32,i32,i32,i32,i32)->(i32)",
	ExportBuffer:     "(i32)->(i32)",
}

func checkExports(c wazero.CompiledModule) error {
	fns := c.ExportedFunctions()
	var problems []string
	for _, name := range []string{ExportABIVersion, ExportAlloc, ExportHandle} {
		want := wantExports[name]
		fn, ok := fns[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing export %s %s", name, want))
			continue
		}
		if got := signature(fn.ParamTypes(), fn.ResultTypes()); got != want {
			problems = append(problems, fmt.Sprintf("export %s is %s, want %s", name, got, want))
		}
	}
	if fn, ok := fns[ExportBuffer]; ok { // optional
		if got, want := signature(fn.ParamTypes(), fn.ResultTypes()), wantExports[ExportBuffer]; got != want {
			problems = append(problems, fmt.Sprintf("export %s is %s, want %s", ExportBuffer, got, want))
		}
	}
	if _, ok := c.ExportedMemories()[ExportMemory]; !ok {
		problems = append(problems, "missing exported memory \"memory\"")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func checkImports(c wazero.CompiledModule) error {
	for _, fn := range c.ImportedFunctions() {
		mod, name, _ := fn.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case ImportModule:
			if _, ok := hostSignatures[name]; !ok {
				return fmt.Errorf("imports %s.%s, which ABI version %d does not have", mod, name, ABIVersion)
			}
		default:
			return fmt.Errorf("imports %s.%s; a plugin may import only %s and %s functions", mod, name, ImportModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	return nil
}

// moduleConfig is the sandbox of every instance: what the manifest
// grants, nothing else.
func moduleConfig(spec plugins.Spec) (wazero.ModuleConfig, error) {
	m := spec.Manifest
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize is called explicitly: see instantiate
		WithArgs(m.Name)
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "TUSKQ_PLUGIN_NAME" || k == "TUSKQ_PLUGIN_VERSION" || slices.Contains(m.Env, k) {
			mc = mc.WithEnv(k, v)
		}
	}
	if len(m.Sandbox.Dirs) > 0 {
		fsc := wazero.NewFSConfig()
		for _, d := range m.Sandbox.Dirs {
			host := filepath.Join(spec.Dir, filepath.FromSlash(d))
			fi, err := os.Stat(host)
			if err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("%s: sandbox.dirs: %s is not a directory", m.File, host)
			}
			guest := "/" + d
			if d == "." {
				guest = "/"
			}
			fsc = fsc.WithReadOnlyDirMount(host, guest)
		}
		mc = mc.WithFSConfig(fsc)
	}
	if m.Sandbox.Clock {
		mc = mc.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	}
	if m.Sandbox.Random {
		mc = mc.WithRandSource(cryptoRand{})
	}
	return mc, nil
}
