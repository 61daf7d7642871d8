package fleetstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	// DefaultResyncInterval is how often a State compares the revision
	// counter with the one it loaded, to catch changes whose message it
	// missed.
	DefaultResyncInterval = time.Second
	// DefaultReportTTL is how long a worker's report outlives its last
	// heartbeat.
	DefaultReportTTL = 30 * time.Second
)

// ErrClosed is returned by Report after Close.
var ErrClosed = errors.New("fleetstate: state closed")

// Options configures a State.
type Options struct {
	// WorkerID identifies this worker in reports. Empty uses NewWorkerID().
	WorkerID string
	// ResyncInterval is how often the revision counter is read to catch a
	// missed change (one GET each time). Zero means DefaultResyncInterval.
	ResyncInterval time.Duration
	// ReportTTL is the lifetime of this worker's report; the heartbeat
	// rewrites it every ReportTTL/3. Zero means DefaultReportTTL.
	ReportTTL time.Duration
	// Logger receives warnings about Redis failures (once per outage) and
	// a debug line per state change. Nil discards them.
	Logger *slog.Logger
}

// State is one worker's live view of the fleet state and its reporter. It
// is safe for concurrent use. Create it with Open and stop it with Close.
type State struct {
	store  *Store
	opts   Options
	logger *slog.Logger
	ps     *redis.PubSub
	start  time.Time
	host   string
	pid    int

	mu      sync.RWMutex
	snap    Snapshot
	subs    []chan struct{}
	loaded  []PluginReport
	closed  bool
	failing bool // the last Redis call failed; log only transitions

	// writeMu orders report writes, so that a heartbeat that read the
	// report before a ReportPlugins call cannot overwrite it afterwards.
	writeMu sync.Mutex
	stop    chan struct{}
	done    chan struct{}
}

// Open subscribes to the change channel, loads the fleet state and writes
// this worker's (empty) report, then keeps both current in the background
// until Close. It fails when Redis cannot be reached. The caller keeps
// ownership of rdb and closes it after Close.
func Open(ctx context.Context, rdb redis.UniversalClient, opts Options) (*State, error) {
	if opts.WorkerID == "" {
		opts.WorkerID = NewWorkerID()
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.ReportTTL <= 0 {
		opts.ReportTTL = DefaultReportTTL
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	s := &State{
		store:  NewStore(rdb),
		opts:   opts,
		logger: logger.With("component", "fleetstate", "worker_id", opts.WorkerID),
		start:  time.Now().UTC(),
		host:   host,
		pid:    os.Getpid(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	// Subscribe before the first load, so that no change falls between them.
	s.ps = rdb.Subscribe(ctx, Channel)
	if _, err := s.ps.Receive(ctx); err != nil {
		_ = s.ps.Close()
		return nil, fmt.Errorf("fleetstate: subscribe to %s: %w", Channel, err)
	}
	snap, err := s.store.Snapshot(ctx)
	if err != nil {
		_ = s.ps.Close()
		return nil, err
	}
	s.snap = snap
	if err := s.writeReport(ctx); err != nil {
		_ = s.ps.Close()
		return nil, err
	}
	msgs := s.ps.ChannelWithSubscriptions(redis.WithChannelSize(16))
	go s.loop(msgs)
	return s, nil
}

// WorkerID returns the ID this worker reports under.
func (s *State) WorkerID() string { return s.opts.WorkerID }

// Enabled reports whether plugin may process tasks: true unless an operator
// disabled it. It reads memory only.
func (s *State) Enabled(plugin string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.snap.Plugins[plugin]
	return !ok || p.Enabled
}

// Config returns the configuration overrides of plugin as decoded JSON
// values (numbers are float64), or nil when it has none. The map is a new
// copy on each call.
func (s *State) Config(plugin string) map[string]any {
	s.mu.RLock()
	p := s.snap.Plugins[plugin]
	s.mu.RUnlock()
	return DecodeConfig(p.Config)
}

// Rev returns the revision of the state held in memory.
func (s *State) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Rev
}

// Subscribe returns a channel that receives a value after each change of
// any plugin's enabled flag or configuration. Changes in quick succession
// may be coalesced into one value. The channel is closed by Close.
func (s *State) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(ch)
		return ch
	}
	s.subs = append(s.subs, ch)
	return ch
}

// ReportPlugins replaces what this worker reports as loaded and writes the
// report at once; the heartbeat keeps rewriting it.
func (s *State) ReportPlugins(ctx context.Context, loaded []PluginReport) error {
	loaded = slices.Clone(loaded)
	slices.SortStableFunc(loaded, func(a, b PluginReport) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.loaded = loaded
	s.mu.Unlock()
	return s.writeReport(ctx)
}

// writeReport writes the current report.
func (s *State) writeReport(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed { // Close has deleted the report or is about to
		return ErrClosed
	}
	return s.store.writeReport(ctx, s.report(), s.opts.ReportTTL)
}

// Close stops the background work, closes the channels returned by
// Subscribe and deletes this worker's report (a killed worker's report
// expires after ReportTTL instead).
func (s *State) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	err := s.ps.Close()
	<-s.done
	s.mu.Lock()
	for _, ch := range s.subs {
		close(ch)
	}
	s.subs = nil
	s.mu.Unlock()
	s.writeMu.Lock() // wait for a ReportPlugins in progress
	defer s.writeMu.Unlock()
	return errors.Join(err, s.store.deleteReport(ctx, s.opts.WorkerID))
}

func (s *State) report() WorkerReport {
	s.mu.RLock()
	defer s.mu.RUnlock()
	plugins := s.loaded
	if plugins == nil {
		plugins = []PluginReport{}
	}
	return WorkerReport{
		Worker:    s.opts.WorkerID,
		Host:      s.host,
		PID:       s.pid,
		StartedAt: s.start,
		UpdatedAt: time.Now().UTC(),
		Plugins:   plugins,
	}
}

// loop applies change messages, resyncs on a timer and on every
// re-subscription, and refreshes the report.
func (s *State) loop(msgs <-chan any) {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	resync := time.NewTicker(s.opts.ResyncInterval)
	defer resync.Stop()
	heartbeat := time.NewTicker(max(s.opts.ReportTTL/3, time.Millisecond))
	defer heartbeat.Stop()
	for {
		select {
		case <-s.stop:
			// Close closes the subscription next; go-redis then closes
			// msgs. Until it does, its goroutine may be blocked sending a
			// message (for up to a minute): drain so that it can see the
			// close and exit instead of outliving the State.
			for range msgs {
			}
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Message:
				s.logger.Debug("plugin state change announced", "plugin", m.Payload)
				s.reload(ctx, true)
			case *redis.Subscription:
				// (Re)subscribed: messages may have been missed meanwhile.
				s.reload(ctx, false)
			}
		case <-resync.C:
			s.reload(ctx, false)
		case <-heartbeat.C:
			s.observe(s.writeReport(ctx), "refresh worker report")
		}
	}
}

// reload loads the snapshot when the revision differs from the one held,
// or always when force is set, and notifies subscribers of a change.
func (s *State) reload(ctx context.Context, force bool) {
	if !force {
		rev, err := s.store.Rev(ctx)
		if !s.observe(err, "resync plugin state") {
			return
		}
		if rev == s.Rev() {
			return
		}
	}
	snap, err := s.store.Snapshot(ctx)
	if !s.observe(err, "load plugin state") {
		return
	}
	s.mu.Lock()
	changed := !reflect.DeepEqual(snapPlugins(s.snap), snapPlugins(snap))
	s.snap = snap
	subs := s.subs
	if changed {
		for _, ch := range subs {
			select {
			case ch <- struct{}{}:
			default: // a tick is already pending
			}
		}
	}
	s.mu.Unlock()
	if changed {
		s.logger.DebugContext(ctx, "plugin state changed", "rev", snap.Rev,
			"disabled", disabled(snap))
	}
}

// snapPlugins returns the part of a snapshot that subscribers care about.
func snapPlugins(s Snapshot) map[string]PluginState {
	out := make(map[string]PluginState, len(s.Plugins))
	for name, p := range s.Plugins {
		p.UpdatedAt = time.Time{}
		out[name] = p
	}
	return out
}

func disabled(s Snapshot) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.Plugins)) {
		if !s.Plugins[name].Enabled {
			out = append(out, name)
		}
	}
	return out
}

// observe logs the first failure of a streak and the recovery, and
// reports whether err is nil.
func (s *State) observe(err error, what string) bool {
	s.mu.Lock()
	was := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	switch {
	case err != nil && !was && !errors.Is(err, context.Canceled):
		s.logger.Warn("fleet plugin state: Redis call failed; keeping the last state loaded", "op", what, "error", err)
	case err == nil && was:
		s.logger.Info("fleet plugin state: Redis reachable again")
	}
	return err == nil
}
