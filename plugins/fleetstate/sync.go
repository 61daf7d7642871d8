package fleetstate

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tuskq/tuskq/plugins"
)

// SyncOptions configures a Syncer.
type SyncOptions struct {
	// Store reads the published bundles. Required.
	Store *Store
	// PluginDir is the worker's plugins.dir. Each published plugin appears
	// there as a symbolic link NAME to its bundle in CacheDir, swapped
	// atomically on each new version, so the plugin Manager hot-reloads
	// it. Required.
	PluginDir string
	// CacheDir receives the bundles, in CacheDir/NAME/VERSION-DIGEST
	// (directories mode 0700, files 0600). Required.
	CacheDir string
	// TrustedKeys, when not empty, are the only keys whose signed bundles
	// are loaded; unsigned bundles are then refused.
	TrustedKeys []ed25519.PublicKey
	// WorkerID names this worker in refusal reports.
	WorkerID string
	// Changes ticks when the fleet state changes (State.Subscribe).
	Changes <-chan struct{}
	// Interval is how often the published versions are read besides on
	// changes (default 2s).
	Interval time.Duration
	// Logger receives a record per bundle installed or refused.
	Logger *slog.Logger
}

// Syncer installs the published wasm bundles on one worker: it fetches
// each plugin's current bundle, verifies its digest (and signature), writes
// it to the cache and points the plugin directory's link at it.
type Syncer struct {
	opts SyncOptions

	mu        sync.Mutex
	installed map[string]string // name → version linked
	refused   map[string]string // name → version refused
}

// NewSyncer returns a Syncer; run it with Run.
func NewSyncer(opts SyncOptions) *Syncer {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{opts: opts, installed: map[string]string{}, refused: map[string]string{}}
}

// Installed returns the version of each plugin this worker linked.
func (s *Syncer) Installed() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.installed))
	for k, v := range s.installed {
		out[k] = v
	}
	return out
}

// Run syncs at once, then on every change and every Interval, until ctx
// ends.
func (s *Syncer) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.Sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case _, ok := <-s.opts.Changes:
			if !ok {
				s.opts.Changes = nil
			}
		}
	}
}

// Sync installs every published version not installed yet. Failures are
// logged and reported to the Store; the plugin keeps its current version.
func (s *Syncer) Sync(ctx context.Context) {
	pub, err := s.opts.Store.Published(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "cannot read the published plugins", "error", err)
		}
		return
	}
	for name, version := range pub {
		s.mu.Lock()
		done := s.installed[name] == version || s.refused[name] == version
		s.mu.Unlock()
		if done {
			continue
		}
		err := s.install(ctx, name, version)
		s.mu.Lock()
		if err != nil {
			s.refused[name] = version
		} else {
			s.installed[name] = version
			delete(s.refused, name)
		}
		s.mu.Unlock()
		if err != nil {
			s.opts.Logger.ErrorContext(ctx, "published plugin refused", "plugin", name, "version", version, "error", err)
		} else {
			s.opts.Logger.InfoContext(ctx, "published plugin installed", "plugin", name, "version", version)
		}
		if rerr := s.opts.Store.ReportRefusal(ctx, name, s.opts.WorkerID, version, err); rerr != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "cannot report a published plugin's state", "plugin", name, "error", rerr)
		}
	}
}

// install fetches, verifies, writes and links one bundle.
func (s *Syncer) install(ctx context.Context, name, version string) error {
	b, err := s.opts.Store.Bundle(ctx, name, version)
	if err != nil {
		return err
	}
	if err := b.Verify(s.opts.TrustedKeys); err != nil {
		return err
	}
	m, err := plugins.ParseManifest(plugins.ManifestFile, b.Manifest)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBundle, err)
	}
	if m.Runtime != plugins.RuntimeWasm || m.Name != name || m.Version != version {
		return fmt.Errorf("%w: the manifest says %s %s (runtime %s); want %s %s, runtime wasm", ErrBundle, m.Name, m.Version, m.Runtime, name, version)
	}
	dir := filepath.Join(s.opts.CacheDir, name, safeVersion(version)+"-"+b.SHA256[:12])
	if err := writeBundle(dir, m.Entry, b); err != nil {
		return err
	}
	return s.link(name, dir)
}

// safeVersion makes a version usable in a file name.
func safeVersion(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, v)
}

// writeBundle writes the bundle's files into dir (mode 0700) unless a
// complete copy is there already.
func writeBundle(dir, entry string, b Bundle) error {
	if _, err := os.Stat(filepath.Join(dir, plugins.ManifestFile)); err == nil {
		return nil
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	entryPath := filepath.Join(tmp, filepath.FromSlash(path.Clean(entry)))
	if err := os.MkdirAll(filepath.Dir(entryPath), 0o700); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.WriteFile(entryPath, b.Module, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, plugins.ManifestFile), b.Manifest, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// errNotALink is returned when a plugin installed by hand has the name.
var errNotALink = errors.New("a plugin installed by hand has that name")

// link points PluginDir/NAME at dir, atomically.
func (s *Syncer) link(name, dir string) error {
	lp := filepath.Join(s.opts.PluginDir, name)
	if fi, err := os.Lstat(lp); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%w: %s: %w; remove it or publish under another name", ErrBundle, lp, errNotALink)
	}
	tmp := filepath.Join(s.opts.PluginDir, "."+name+".link")
	_ = os.Remove(tmp)
	if err := os.Symlink(dir, tmp); err != nil {
		return fmt.Errorf("link %s: %w", lp, err)
	}
	if err := os.Rename(tmp, lp); err != nil {
		return fmt.Errorf("link %s: %w", lp, err)
	}
	return nil
}
