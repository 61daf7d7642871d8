package plugins

import (
	"log/slog"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// watcher watches the plugin directories (fsnotify is not recursive, so
// each directory is added on its own).
type watcher struct {
	w       *fsnotify.Watcher
	watched []string
}

func newWatcher() (*watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{w: w}, nil
}

func (w *watcher) events() <-chan fsnotify.Event { return w.w.Events }
func (w *watcher) errors() <-chan error          { return w.w.Errors }
func (w *watcher) close()                        { _ = w.w.Close() }

// sync makes the watched set equal to dirs.
func (w *watcher) sync(dirs []string, logger *slog.Logger) {
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	for _, d := range w.watched {
		if !slices.Contains(dirs, d) {
			_ = w.w.Remove(d) // it may be gone already
		}
	}
	kept := dirs[:0:0]
	for _, d := range dirs {
		if err := w.w.Add(d); err != nil {
			logger.Warn("cannot watch plugin directory; changes there need a restart", "dir", d, "error", err)
			continue
		}
		kept = append(kept, d)
	}
	w.watched = kept
}
