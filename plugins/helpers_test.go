package plugins_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	pexec "github.com/tuskq/tuskq/plugins/oneshot"
	"github.com/tuskq/tuskq/plugins/resident"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// waitFor bounds every poll of the tests.
const waitFor = 30 * time.Second

// bins holds the plugin binaries built once by TestMain.
var bins struct {
	testplugin string // plugins/testdata/testplugin
	greet      string // examples/plugins/greet
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugins-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for _, b := range []struct {
			out *string
			pkg string
		}{
			{&bins.testplugin, "./testdata/testplugin"},
			{&bins.greet, "../examples/plugins/greet"},
		} {
			*b.out = filepath.Join(dir, filepath.Base(b.pkg))
			cmd := exec.Command("go", "build", "-o", *b.out, b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
		code := m.Run()
		// No goroutine may outlive the tests: a plugin runtime, watcher or
		// supervisor that Close leaves running.
		if err := goleak.Find(testutil.LeakOptions()...); code == 0 && err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			return 1
		}
		return code
	}()
	os.Exit(code)
}

// poll calls cond until it returns true, failing the test after waitFor.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Poll(t, waitFor, what, cond)
}

// pluginDir makes a secure plugin directory for a test.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writePlugin creates dir/name with the manifest and files (name →
// content; a content starting with "@" copies that file instead). Files
// are written to a temporary name and renamed, as a deploy would.
func writePlugin(t testing.TB, dir, name, manifest string, files map[string]string) string {
	t.Helper()
	pd := filepath.Join(dir, name)
	if err := os.MkdirAll(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, content := range files {
		data := []byte(content)
		if src, ok := strings.CutPrefix(content, "@"); ok {
			var err error
			if data, err = os.ReadFile(src); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(pd, file), data, 0o755)
	}
	writeFile(t, filepath.Join(pd, plugins.ManifestFile), []byte(manifest), 0o644)
	return pd
}

// writeFile replaces path atomically.
func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testManifest is a process plugin manifest running the test plugin.
func testManifest(name, version, types string) string {
	return fmt.Sprintf("name: %s\nversion: %s\nruntime: process\nentry: testplugin\ntask_types:\n%s", name, version, types)
}

// runtimes are the runtimes of the tests, with a short restart backoff.
func runtimes() plugins.Runtimes {
	return plugins.Runtimes{
		plugins.RuntimeProcess: resident.New(resident.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}),
		plugins.RuntimeExec:    pexec.New(pexec.Options{}),
	}
}

// startManager runs a Manager over dir until the test ends and waits until
// it is ready.
func startManager(t testing.TB, opts plugins.Options) *plugins.Manager {
	t.Helper()
	if opts.Runtimes == nil {
		opts.Runtimes = runtimes()
	}
	if opts.ReloadDebounce == 0 {
		opts.ReloadDebounce = 20 * time.Millisecond
	}
	m, err := plugins.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Manager.Run: %v", err)
		}
	})
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("Manager.Run returned before ready: %v", err)
	case <-time.After(waitFor):
		t.Fatal("manager not ready")
	}
	return m
}

// env is one test's Redis, producer, worker and logs.
type env struct {
	redis  *redistest.Server
	client *tasks.Client
	insp   *asynq.Inspector
	logs   *testutil.LogBuffer
	reg    *tasks.Registry
	mgr    *plugins.Manager
}

// newEnv starts Redis, a Manager over dir (resolver of a registry holding
// a compiled-in "builtin:echo") and a worker, all stopped when the test
// ends (the worker first).
func newEnv(t *testing.T, dir string, state plugins.State) *env {
	t.Helper()
	e := &env{redis: redistest.Start(t), logs: &testutil.LogBuffer{}, reg: tasks.NewRegistry()}
	cfg := config.Default()
	cfg.Redis.Addr = e.redis.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 8
	cfg.Worker.Queues = map[string]int{"default": 1}
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.DelayedTaskCheckInterval = 20 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 2 * time.Second
	opt, err := redisconn.ConnOpt(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	e.client, err = tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.client.Close() })
	e.insp = e.client.Inspector()
	e.reg.MustRegister("builtin:echo", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	logger := e.logs.Logger(t, slog.LevelDebug)
	e.mgr = startManager(t, plugins.Options{Dir: dir, Registry: e.reg, State: state, Logger: logger,
		Environ: []string{"TUSKQ_REDIS_PASSWORD=secret", "LANG=C.UTF-8"}})
	e.reg.SetResolver(e.mgr)
	w, err := worker.New(worker.Options{Config: cfg, Logger: logger, Registry: e.reg,
		RetryDelay: plugins.RetryDelay(func(int, error, *asynq.Task) time.Duration { return 0 }, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("worker: %v", err)
	case <-time.After(waitFor):
		t.Fatal("worker not ready")
	}
	t.Cleanup(func() { // registered last: runs before the manager stops
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return e
}

// enqueue enqueues one task with the payload.
func (e *env) enqueue(t *testing.T, typ, payload string, opts *tasks.EnqueueOptions) *tasks.TaskInfo {
	t.Helper()
	if opts == nil {
		opts = &tasks.EnqueueOptions{}
	}
	if opts.Retention == 0 {
		opts.Retention = time.Hour
	}
	info, err := e.client.Enqueue(t.Context(), typ, []byte(payload), opts)
	if err != nil {
		t.Fatalf("enqueue %s: %v", typ, err)
	}
	return info
}

// wait waits until the task is completed or archived.
func (e *env) wait(t *testing.T, info *tasks.TaskInfo) *asynq.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	got, err := e.client.Wait(ctx, info.Queue, info.ID)
	if err != nil {
		t.Fatalf("wait for task %s: %v", info.ID, err)
	}
	return got
}

// result decodes a completed task's JSON result.
func result(t *testing.T, ti *asynq.TaskInfo) map[string]any {
	t.Helper()
	if ti.State != asynq.TaskStateCompleted {
		t.Fatalf("task %s is %s (last error %q); want completed", ti.ID, ti.State, ti.LastErr)
	}
	var m map[string]any
	if err := json.Unmarshal(ti.Result, &m); err != nil {
		t.Fatalf("task %s result %q: %v", ti.ID, ti.Result, err)
	}
	return m
}

func intp(n int) *int { return &n }
