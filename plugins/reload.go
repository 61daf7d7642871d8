package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// stamp identifies the content of a plugin version: the manifest's hash
// and the entry file's identity (size, times, inode).
type stamp struct {
	manifest [32]byte
	size     int64
	mtime    int64
	ctime    int64
	ino      uint64
}

// scan loads new and changed plugins, drops removed ones, swaps the table
// and retires replaced versions. It reports whether anything changed.
func (m *Manager) scan(ctx context.Context, w *watcher) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	root, err := checkDir(m.opts.Dir, m.opts.UID)
	if err != nil {
		m.logger.ErrorContext(ctx, "plugin directory unusable; keeping the plugins already loaded", "error", err)
		return false
	}
	des, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		m.logger.ErrorContext(ctx, "cannot read the plugin directory; keeping the plugins already loaded", "error", err)
		return false
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(m.opts.Dir, de.Name())); err == nil && fi.IsDir() {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	changed := false
	var replaced []*version
	for _, name := range names {
		e := m.entries[name]
		if e == nil {
			e = &entry{dirName: name, dir: filepath.Join(m.opts.Dir, name)}
			m.entries[name] = e
		}
		old := e.cur
		if m.refresh(ctx, e, root) {
			changed = true
		}
		if old != nil && e.cur != old {
			replaced = append(replaced, old)
		}
	}
	for name, e := range m.entries {
		if slices.Contains(names, name) {
			continue
		}
		if e.cur != nil {
			m.logger.InfoContext(ctx, "plugin removed", "plugin", e.cur.m.Name, "version", e.cur.m.Version, "dir", e.dir)
			replaced = append(replaced, e.cur)
		}
		delete(m.entries, name)
		changed = true
	}
	if changed {
		m.table.Store(m.buildTable())
		for _, v := range replaced {
			m.retireVersion(v)
		}
	}
	w.sync(m.watchList(), m.logger)
	return changed
}

// refresh loads e's directory when its content changed since the last
// attempt. It reports whether anything about e changed.
func (m *Manager) refresh(ctx context.Context, e *entry, root string) bool {
	manifestPath := filepath.Join(e.dir, ManifestFile)
	cd, err := checkPluginDir(root, e.dir, m.opts.UID)
	if err != nil {
		return m.fail(e, stamp{}, nil, err)
	}
	data, err := m.readManifest(cd, e.dir, manifestPath)
	if err != nil {
		return m.fail(e, stamp{}, nil, err)
	}
	st := stamp{manifest: sha256.Sum256(data)}
	man, perr := ParseManifest(manifestPath, data)
	if perr == nil {
		if fi, err := os.Stat(filepath.Join(e.dir, filepath.FromSlash(man.Entry))); err == nil {
			st.size, st.mtime = fi.Size(), fi.ModTime().UnixNano()
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				st.ino, st.ctime = sys.Ino, sys.Ctim.Nano()
			}
		}
	}
	if st == e.stamp && (e.cur != nil || e.errText != "") {
		return false
	}
	if perr != nil {
		return m.fail(e, st, nil, perr)
	}
	v, err := m.load(ctx, e, man, cd)
	if err != nil {
		return m.fail(e, st, man, err)
	}
	if e.cur != nil {
		m.logger.InfoContext(ctx, "plugin reloaded: new tasks go to the new version; tasks in flight finish on the old one",
			"plugin", man.Name, "version", man.Version,
			"old_version", e.cur.m.Version, "runtime", man.Runtime,
			"task_types", man.TypeNames(), "dir", e.dir)
	} else {
		m.logger.InfoContext(ctx, "plugin loaded", "plugin", man.Name, "version", man.Version,
			"runtime", man.Runtime, "task_types", man.TypeNames(), "dir", e.dir)
	}
	e.stamp, e.cur = st, v
	e.errText, e.errName, e.errVersion, e.errRuntime, e.failedTypes, e.failedErr = "", "", "", "", nil, nil
	return true
}

// fail records a failed attempt on e; the serving version, if any, stays.
func (m *Manager) fail(e *entry, st stamp, man *Manifest, err error) bool {
	text := err.Error()
	if st == e.stamp && text == e.errText {
		return false // the same failure again
	}
	e.stamp, e.errText, e.failedErr = st, text, err
	e.errName, e.errVersion, e.errRuntime, e.failedTypes = "", "", "", nil
	if man != nil {
		e.errName, e.errVersion, e.errRuntime = man.Name, man.Version, man.Runtime
		if !errors.Is(err, ErrClaimed) {
			e.failedTypes = man.TaskTypes
		}
	}
	attrs := []any{"dir", e.dir, "error", err}
	if e.cur != nil {
		attrs = append(attrs, "plugin", e.cur.m.Name, "serving_version", e.cur.m.Version)
		m.logger.Error("plugin failed to load; the version already loaded keeps serving", attrs...)
	} else {
		m.logger.Error("plugin failed to load", attrs...)
	}
	return true
}

// readManifest checks the plugin directory and manifest and reads it.
func (m *Manager) readManifest(cd checkedDir, dir, file string) ([]byte, error) {
	resolved, fi, err := cd.checkFile(file, m.opts.UID)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plugins: %s: no %s; every plugin directory needs a manifest (see docs/plugins.md)", dir, ManifestFile)
		}
		return nil, err
	}
	f, err := openChecked(resolved, fi)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("plugins: read %s: %w", file, err)
	}
	return data, nil
}

// load checks what the manifest refers to and starts the plugin.
func (m *Manager) load(ctx context.Context, e *entry, man *Manifest, cd checkedDir) (*version, error) {
	for _, other := range m.entries {
		if other == e || other.cur == nil {
			continue
		}
		if other.cur.m.Name == man.Name {
			return nil, fmt.Errorf("plugins: %s: name: %q is already the name of the plugin in %s; plugin names must be unique", man.File, man.Name, other.dir)
		}
		for _, tt := range man.TaskTypes {
			if slices.Contains(other.cur.m.TypeNames(), tt.Name) {
				return nil, fmt.Errorf("plugins: %s: task_types.%s: %w by plugin %s (%s)", man.File, tt.Name, ErrClaimed, other.cur.m.Name, other.dir)
			}
		}
	}
	if reg := m.opts.Registry; reg != nil {
		for _, tt := range man.TaskTypes {
			if reg.Registered(tt.Name) {
				return nil, fmt.Errorf("plugins: %s: task_types.%s: %w by a processor compiled into the worker", man.File, tt.Name, ErrClaimed)
			}
		}
	}
	rt, ok := m.opts.Runtimes[man.Runtime]
	if !ok {
		known := make([]string, 0, len(m.opts.Runtimes))
		for name := range m.opts.Runtimes {
			known = append(known, name)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("plugins: %s: runtime: %w %q; this worker has %s", man.File, ErrUnknownRuntime, man.Runtime, strings.Join(known, ", "))
	}
	if err := checkEnv(man, m.opts.AllowEnv); err != nil {
		return nil, err
	}
	entryPath := filepath.Join(e.dir, filepath.FromSlash(man.Entry))
	resolved, fi, err := cd.checkFile(entryPath, m.opts.UID)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plugins: %s: entry: %s does not exist", man.File, entryPath)
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("plugins: %s: entry: %s is not a regular file", man.File, entryPath)
	}
	spec := Spec{
		Manifest: man,
		Dir:      cd.resolved,
		Entry:    resolved,
		entryID:  idOf(fi),
		Env:      pluginEnv(man, cd.resolved, m.opts.Environ),
		Logger:   m.logger.With("plugin", man.Name, "version", man.Version),
		LogLimit: m.logLimiter(man.Name),
	}
	sctx, cancel := context.WithTimeout(ctx, m.opts.StartTimeout)
	defer cancel()
	inst, err := rt.Start(sctx, spec)
	if err != nil {
		return nil, fmt.Errorf("plugins: %s %s (%s runtime): %w", man.Name, man.Version, man.Runtime, err)
	}
	return &version{m: man, inst: inst, loadedAt: time.Now()}, nil
}

// buildTable makes the dispatch table of the current entries.
func (m *Manager) buildTable() *table {
	t := &table{types: map[string]*binding{}}
	for _, e := range m.entries {
		if v := e.cur; v != nil {
			for _, tt := range v.m.TaskTypes {
				t.types[tt.Name] = &binding{mgr: m, plugin: v.m.Name, tt: tt, v: v}
			}
		}
	}
	// A plugin that failed with no version serving still answers for its
	// task types, so their tasks fail with the load error and retry.
	for _, e := range m.entries {
		if e.cur != nil {
			continue
		}
		for _, tt := range e.failedTypes {
			if t.types[tt.Name] == nil && (m.opts.Registry == nil || !m.opts.Registry.Registered(tt.Name)) {
				t.types[tt.Name] = &binding{mgr: m, plugin: e.errName, tt: tt, err: e.failedErr}
			}
		}
	}
	return t
}

// watchList returns the directories to watch: the plugin directory, each
// plugin directory and the directory of each entry file.
func (m *Manager) watchList() []string {
	list := []string{m.opts.Dir}
	for _, e := range m.entries {
		list = append(list, e.dir)
		if e.cur != nil {
			if d := filepath.Dir(filepath.Join(e.dir, filepath.FromSlash(e.cur.m.Entry))); d != e.dir {
				list = append(list, d)
			}
		}
	}
	return list
}
