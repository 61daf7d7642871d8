package plugins_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// memState is an in-memory plugins.State for tests.
type memState struct {
	mu       sync.Mutex
	disabled map[string]bool
	config   map[string]map[string]any
	reports  [][]plugins.LoadedPlugin
	changes  chan struct{}
}

func newMemState() *memState {
	return &memState{disabled: map[string]bool{}, config: map[string]map[string]any{}, changes: make(chan struct{}, 1)}
}

func (s *memState) Enabled(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.disabled[p]
}

func (s *memState) Config(p string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config[p]
}

func (s *memState) Subscribe() <-chan struct{} { return s.changes }

func (s *memState) Report(_ context.Context, l []plugins.LoadedPlugin) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, l)
	return nil
}

func (s *memState) set(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

func (s *memState) lastReport() []plugins.LoadedPlugin {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) == 0 {
		return nil
	}
	return s.reports[len(s.reports)-1]
}

// TestDisabledTasksWait: while a plugin is disabled its tasks come back
// without using up retries (asynq's IsFailure set to plugins.IsFailure),
// and run once it is enabled; configuration overrides reach the plugin.
func TestDisabledTasksWait(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	writePlugin(t, dir, "tp", testManifest("tp", "1", "  tp:run: {}\nconfig: {size: 1, colour: red}\n"),
		map[string]string{"testplugin": "@" + bins.testplugin})
	state := newMemState()
	state.set(func() { state.disabled["tp"] = true })
	reg := tasks.NewRegistry()
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg, State: state})
	reg.SetResolver(m)
	poll(t, "a report saying disabled", func() bool {
		r := state.lastReport()
		return len(r) == 1 && r[0].Status == plugins.StatusDisabled && r[0].Version == "1"
	})

	srv := redistest.Start(t)
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	opt, err := redisconn.ConnOpt(cfg.Redis)
	must(t, err)
	var mu sync.Mutex
	attempts := 0
	server := asynq.NewServer(opt, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{"default": 1},
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 20 * time.Millisecond,
		IsFailure:                plugins.IsFailure,
		RetryDelayFunc:           plugins.RetryDelay(nil, time.Millisecond),
		LogLevel:                 asynq.FatalLevel,
	})
	must(t, server.Start(tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		mu.Lock()
		attempts++
		mu.Unlock()
		return reg.ProcessTask(ctx, task)
	})))
	t.Cleanup(server.Shutdown)
	client, err := tasks.NewClient(opt, tasks.ClientOptions{})
	must(t, err)
	t.Cleanup(func() { client.Close() })

	info, err := client.Enqueue(t.Context(), "tp:run", []byte(`{"n":5}`), &tasks.EnqueueOptions{MaxRetry: intp(2), Retention: time.Hour})
	must(t, err)
	// It goes round more often than its 2 retries would allow.
	poll(t, "5 attempts while disabled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return attempts >= 5
	})
	ti, err := client.Inspector().GetTaskInfo("default", info.ID)
	must(t, err)
	if ti.Retried != 0 || ti.LastErr != "plugins: tp: plugin disabled fleet-wide; the task waits and runs once it is enabled" {
		t.Fatalf("while disabled: state %s, retried %d, error %q", ti.State, ti.Retried, ti.LastErr)
	}
	state.set(func() {
		state.disabled["tp"] = false
		state.config["tp"] = map[string]any{"colour": "blue"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	ti, err = client.Wait(ctx, "default", info.ID)
	must(t, err)
	got := result(t, ti)
	if ti.Retried != 0 || fmt.Sprint(got["config"]) != "map[colour:blue size:1]" {
		t.Fatalf("after enable: retried %d, result %v", ti.Retried, got)
	}
	poll(t, "a report saying loaded", func() bool {
		r := state.lastReport()
		return len(r) == 1 && r[0].Status == plugins.StatusLoaded
	})
}
