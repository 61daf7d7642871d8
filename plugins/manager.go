package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuskq/tuskq/internal/waitgroup"
	"github.com/tuskq/tuskq/tasks"
)

// Defaults of Options.
const (
	DefaultReloadDebounce = 250 * time.Millisecond
	DefaultReportInterval = 15 * time.Second
	DefaultStartTimeout   = 30 * time.Second
	// drainGrace is added to a version's longest task timeout to bound the
	// wait for its tasks in flight when it is replaced or the worker stops.
	drainGrace = 5 * time.Second
)

// ErrBadOptions is wrapped by NewManager's errors.
var ErrBadOptions = errors.New("bad plugin manager options")

// Options configures a Manager.
type Options struct {
	// Dir is the plugin directory: one subdirectory per plugin, each with
	// a plugin.yaml. Required. Subdirectories whose name starts with '.'
	// are ignored (stage new versions there, then rename).
	Dir string
	// Runtimes are the runtimes manifests may name. Required.
	Runtimes Runtimes
	// Registry holds the compiled-in processors: a plugin may not claim
	// their task types. Optional.
	Registry *tasks.Registry
	// State is the fleet-wide state; nil enables every plugin with its
	// manifest configuration.
	State State
	// Logger receives load, reload and plugin output lines. Nil discards.
	Logger *slog.Logger
	// Environ is the worker's environment (os.Environ()); only the
	// variables a manifest lists in env are passed to its processes.
	Environ []string
	// AllowEnv lists the worker's own variables (names starting with
	// WorkerEnvPrefix) that a manifest may pass to its plugin through env
	// (plugins.allow_env). They hold the worker's configuration, secrets
	// included, so a manifest naming any other one fails to load.
	AllowEnv []string
	// UID is the user that may own plugin files besides root. 0 means the
	// worker's effective user.
	UID int
	// ReloadDebounce is how long the directory must be quiet after a
	// change before it is rescanned. Defaults to DefaultReloadDebounce.
	ReloadDebounce time.Duration
	// ReportInterval is how often the loaded plugins are reported to
	// State besides after every change. Defaults to DefaultReportInterval.
	ReportInterval time.Duration
	// StartTimeout bounds Runtime.Start. Defaults to DefaultStartTimeout.
	StartTimeout time.Duration
	// LogRate is how many stderr lines a second each plugin may put in
	// the log (all its processes together), with bursts of LogBurst lines;
	// the rest are dropped and counted (see LogLimiter). Default
	// DefaultLogRate and DefaultLogBurst.
	LogRate  float64
	LogBurst int
}

// Manager loads the plugins of a directory, serves their task types as a
// tasks.Resolver, and reloads them when the directory changes. Create it
// with NewManager, install it with Registry.SetResolver and call Run.
type Manager struct {
	opts   Options
	logger *slog.Logger
	table  atomic.Pointer[table]
	ready  chan struct{}
	run    atomic.Bool

	mu       sync.Mutex             // serializes scans; guards entries and limiters
	entries  map[string]*entry      // by directory name
	limiters map[string]*LogLimiter // by plugin name: a reload keeps the bucket
	dropped  *prometheus.CounterVec
	retire   sync.WaitGroup // versions being drained
}

// entry is what the Manager knows about one plugin directory.
type entry struct {
	dirName string
	dir     string
	stamp   stamp    // of the last version attempted
	cur     *version // serving; nil when none
	// Last failed attempt, when it is newer than cur.
	errText     string
	errName     string
	errVersion  string
	errRuntime  string
	failedTypes []TaskType
	failedErr   error
}

// version is one started version of a plugin.
type version struct {
	m        *Manifest
	inst     Instance
	loadedAt time.Time

	mu       sync.RWMutex
	retired  bool
	inflight sync.WaitGroup
}

func (v *version) acquire() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.retired {
		return false
	}
	v.inflight.Add(1)
	return true
}

// table is the immutable dispatch table; it is replaced as a whole.
type table struct {
	types map[string]*binding
}

// binding is how one task type is served.
type binding struct {
	mgr    *Manager
	plugin string
	tt     TaskType
	v      *version // nil when the plugin failed to load
	err    error    // why v is nil
}

// NewManager checks the options and returns a Manager that serves nothing
// until Run has loaded the directory (see Ready).
func NewManager(opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("plugins: %w: Dir is empty; set plugins.dir to the plugin directory", ErrBadOptions)
	}
	if len(opts.Runtimes) == 0 {
		return nil, fmt.Errorf("plugins: %w: no Runtimes; pass at least the process runtime", ErrBadOptions)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: plugins.dir %q: %w", opts.Dir, err)
	}
	opts.Dir = dir
	if opts.UID == 0 {
		opts.UID = os.Geteuid()
	}
	if opts.ReloadDebounce <= 0 {
		opts.ReloadDebounce = DefaultReloadDebounce
	}
	if opts.ReportInterval <= 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.LogRate <= 0 {
		opts.LogRate = DefaultLogRate
	}
	if opts.LogBurst <= 0 {
		opts.LogBurst = DefaultLogBurst
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, logger: logger, ready: make(chan struct{}), entries: map[string]*entry{},
		limiters: map[string]*LogLimiter{},
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_plugin_log_lines_dropped_total",
			Help: "Plugin stderr lines not logged because the plugin logged faster than its limit.",
		}, []string{"plugin"})}
	m.table.Store(&table{types: map[string]*binding{}})
	return m, nil
}

// Collector returns the Manager's metrics, for the worker's Prometheus
// registry:
//
//	tuskq_plugin_log_lines_dropped_total{plugin}  stderr lines over the plugin's log limit
func (m *Manager) Collector() prometheus.Collector { return m.dropped }

// logLimiter returns the log limiter of the plugin name. m.mu is held.
func (m *Manager) logLimiter(name string) *LogLimiter {
	l := m.limiters[name]
	if l == nil {
		l = NewLogLimiter(m.opts.LogRate, m.opts.LogBurst, m.dropped.WithLabelValues(name), m.logger.With("plugin", name))
		m.limiters[name] = l
	}
	return l
}

// Ready is closed once Run has loaded the directory for the first time.
// Start the worker after it, so that no task of a plugin type meets an
// empty table.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Resolve returns the processor of a plugin task type. It implements
// tasks.Resolver. The processor looks the type up again for each task, so a
// reload switches tasks to the new version at once.
func (m *Manager) Resolve(taskType string) (tasks.Processor, bool) {
	b := m.table.Load().types[taskType]
	if b == nil {
		return nil, false
	}
	return b, true
}

// Loaded returns what the Manager has loaded, one entry per plugin
// directory, sorted by name.
func (m *Manager) Loaded() []LoadedPlugin {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loadedLocked()
}

func (m *Manager) loadedLocked() []LoadedPlugin {
	out := make([]LoadedPlugin, 0, len(m.entries))
	for _, e := range m.entries {
		lp := LoadedPlugin{Name: e.errName, Version: e.errVersion, Runtime: e.errRuntime, Status: StatusFailed, Error: e.errText}
		if lp.Name == "" {
			lp.Name = e.dirName
		}
		types := e.failedTypes
		if v := e.cur; v != nil {
			lp = LoadedPlugin{Name: v.m.Name, Version: v.m.Version, Runtime: v.m.Runtime, Status: StatusLoaded,
				Error: e.errText, LoadedAt: v.loadedAt}
			if m.opts.State != nil && !m.opts.State.Enabled(v.m.Name) {
				lp.Status = StatusDisabled
			}
			types = v.m.TaskTypes
		}
		lp.TaskTypes = make([]string, len(types))
		for i, tt := range types {
			lp.TaskTypes[i] = tt.Name
		}
		out = append(out, lp)
	}
	slices.SortFunc(out, func(a, b LoadedPlugin) int {
		if a.Name != b.Name {
			return compareStrings(a.Name, b.Name)
		}
		return compareStrings(a.Version, b.Version)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Routes returns the producer defaults (queue, max_retry, timeout) of the
// task types of the serving versions.
func (m *Manager) Routes() []tasks.Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	var routes []tasks.Route
	for _, name := range slices.Sorted(maps.Keys(m.entries)) {
		if v := m.entries[name].cur; v != nil {
			routes = append(routes, v.m.Routes()...)
		}
	}
	return routes
}

// Run loads every plugin in the directory, closes Ready, and then reloads
// plugins as the directory changes and reports to State, until ctx is
// cancelled. It then drains and stops every plugin and returns nil. It
// returns an error when the directory is missing or insecure at start-up.
// Plugins that fail to load do not make Run fail: they are logged and
// reported with StatusFailed.
//
// Stop the worker before cancelling ctx: plugins stop with Run.
func (m *Manager) Run(ctx context.Context) error {
	if m.run.Swap(true) {
		return errors.New("plugins: Run was already called; create a new Manager")
	}
	if err := m.checkDir(); err != nil {
		return err
	}
	w, err := newWatcher()
	if err != nil {
		return fmt.Errorf("plugins: watch %s: %w", m.opts.Dir, err)
	}
	defer w.close()
	m.scan(ctx, w)
	close(m.ready)
	m.report(ctx)
	return m.loop(ctx, w)
}

func (m *Manager) checkDir() error { return CheckDir(m.opts.Dir, m.opts.UID) }

func (m *Manager) loop(ctx context.Context, w *watcher) error {
	var changes <-chan struct{}
	if m.opts.State != nil {
		changes = m.opts.State.Subscribe()
	}
	tick := time.NewTicker(m.opts.ReportInterval)
	defer tick.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case <-w.events():
			debounce.Reset(m.opts.ReloadDebounce)
		case err := <-w.errors():
			m.logger.WarnContext(ctx, "plugin directory watch error; rescanning", "error", err)
			debounce.Reset(m.opts.ReloadDebounce)
		case <-debounce.C:
			if m.scan(ctx, w) {
				m.report(ctx)
			}
		case <-changes:
			m.logger.DebugContext(ctx, "plugin fleet state changed")
			m.report(ctx)
		case <-tick.C:
			m.report(ctx)
		}
	}
}

// report sends the loaded plugins to State.
func (m *Manager) report(ctx context.Context) {
	if m.opts.State == nil {
		return
	}
	loaded := m.Loaded()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.opts.State.Report(rctx, loaded); err != nil && ctx.Err() == nil {
		m.logger.WarnContext(ctx, "cannot report loaded plugins", "error", err)
	}
}

// shutdown drains and stops every version.
func (m *Manager) shutdown() {
	m.mu.Lock()
	for _, e := range m.entries {
		if e.cur != nil {
			m.retireVersion(e.cur)
			e.cur = nil
		}
	}
	m.table.Store(&table{types: map[string]*binding{}})
	m.mu.Unlock()
	m.retire.Wait()
}

// retireVersion stops v in the background once its tasks in flight are
// done (bounded by its longest timeout plus a grace period). The table
// must no longer point at v.
func (m *Manager) retireVersion(v *version) {
	v.mu.Lock()
	v.retired = true
	v.mu.Unlock()
	m.retire.Add(1)
	go func() {
		defer m.retire.Done()
		bound := drainGrace
		for _, tt := range v.m.TaskTypes {
			bound = max(bound, v.m.TypeTimeout(tt)+drainGrace)
		}
		if !waitgroup.WaitTimeout(&v.inflight, bound) {
			m.logger.Warn("plugin version still has tasks in flight; stopping it anyway",
				"plugin", v.m.Name, "version", v.m.Version, "waited", bound)
		}
		ctx, cancel := context.WithTimeout(context.Background(), drainGrace)
		defer cancel()
		if err := v.inst.Close(ctx); err != nil {
			m.logger.Warn("plugin version did not stop cleanly",
				"plugin", v.m.Name, "version", v.m.Version, "error", err)
		} else {
			m.logger.Info("plugin version stopped", "plugin", v.m.Name, "version", v.m.Version)
		}
	}()
}
