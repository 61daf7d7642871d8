package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/wasm"
	"github.com/tuskq/tuskq/processors"
)

// TestHTTPThroughTheGuard: sandbox.http sends requests through the
// worker's guard: a host not in the allow-list is refused, one listed is
// reached.
func TestHTTPThroughTheGuard(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	closed, err := processors.NewHTTPGuard([]string{"api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	inst := startProbe(t, newRuntime(wasm.Options{HTTP: closed}), "sandbox:\n  http: true\n", nil)
	_, err = run(t.Context(), inst, "probe:http", srv.URL+"/ping")
	if err == nil || !strings.Contains(err.Error(), "is not in worker.http_allow_hosts") {
		t.Fatalf("request to %s with it not listed: %v; want refused by the allow-list", host, err)
	}

	open, err := processors.NewHTTPGuard([]string{host})
	if err != nil {
		t.Fatal(err)
	}
	inst = startProbe(t, newRuntime(wasm.Options{HTTP: open}), "sandbox:\n  http: true\n", nil)
	got, err := run(t.Context(), inst, "probe:http", srv.URL+"/ping")
	if err != nil || got != "pong" {
		t.Fatalf("request to listed %s = %q, %v; want pong", host, got, err)
	}

	// Granted by the manifest but no guard on the worker: refused at load.
	dir, m := probeDir(t, "1.0.0", "sandbox:\n  http: true\n")
	_, err = newRuntime(wasm.Options{}).Start(t.Context(), plugins.Spec{Manifest: m, Dir: dir, Entry: filepath.Join(dir, "probe.wasm")})
	if !errors.Is(err, wasm.ErrHTTPUnavailable) {
		t.Fatalf("Start with sandbox.http and no guard: %v; want ErrHTTPUnavailable", err)
	}
}

// TestABIChecked: a module that is not a tuskq plugin is refused at load
// with what is missing.
func TestABIChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// (module (memory (export "memory") 1)) in binary form.
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0}
	entry := filepath.Join(dir, "empty.wasm")
	if err := os.WriteFile(entry, mod, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := plugins.ParseManifest("plugin.yaml", []byte("name: empty\nversion: 1\nruntime: wasm\nentry: empty.wasm\ntask_types:\n  e:x: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wasm.New(wasm.Options{}).Start(t.Context(), plugins.Spec{Manifest: m, Dir: dir, Entry: entry})
	if !errors.Is(err, wasm.ErrABI) || !strings.Contains(err.Error(), "missing export tuskq_abi_version ()->(i32)") {
		t.Fatalf("Start = %v; want ErrABI naming the missing export", err)
	}
}

// TestExamples runs the example plugins of examples/plugins: the Go guest
// and the WebAssembly text one.
func TestExamples(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	t.Run("wasm-hello", func(t *testing.T) {
		t.Parallel()
		code := guest(t, "examples/plugins/wasm-hello")
		testExample(t, filepath.Join(root, "examples/plugins/wasm-hello"), code, "hello:wasm", "Ada", "Hello, Ada!")
	})
	t.Run("wasm-wat", func(t *testing.T) {
		t.Parallel()
		wat2wasm, err := exec.LookPath("wat2wasm")
		if err != nil {
			if os.Getenv("TUSKQTEST_REQUIRE_EXAMPLES") != "" {
				t.Fatal("wat2wasm not installed (apt-get install wabt)")
			}
			t.Skip("wat2wasm not installed (apt-get install wabt); skipping the WebAssembly text example")
		}
		out := filepath.Join(t.TempDir(), "hello.wasm")
		if b, err := exec.CommandContext(t.Context(), wat2wasm, "-o", out, filepath.Join(root, "examples/plugins/wasm-wat/hello.wat")).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm: %v\n%s", err, b)
		}
		testExample(t, filepath.Join(root, "examples/plugins/wasm-wat"), out, "hello:wat", "Grace", "Hello, Grace!")
	})
}

func testExample(t *testing.T, exampleDir, code, typ, payload, want string) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(exampleDir, plugins.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := plugins.ParseManifest(plugins.ManifestFile, text)
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.LogBuffer
	inst, err := newRuntime(wasm.Options{}).Start(t.Context(), plugins.Spec{Manifest: m, Dir: exampleDir, Entry: code,
		Logger: logs.Logger(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.WithoutCancel(t.Context()))
	for range 3 {
		res, err := inst.Process(t.Context(), asynq.NewTask(typ, []byte(payload)), plugins.Meta{Config: m.Config})
		if err != nil || string(res) != want {
			t.Fatalf("%s(%q) = %q, %v; want %q", typ, payload, res, err, want)
		}
	}
	_, err = inst.Process(t.Context(), asynq.NewTask(typ, nil), plugins.Meta{Config: m.Config})
	if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "the payload must be a name") {
		t.Fatalf("%s with no payload: %v; want a skip-retry error", typ, err)
	}
	if n := len(logs.Records(t, "")); n < 3 {
		t.Fatalf("%d log records; want the plugin's 3 lines at least:\n%s", n, logs.String())
	}
}

// TestHotReloadUnderLoad upgrades the probe from 1.0.0 to 2.0.0 through
// the plugin Manager while tasks flow: none fails, and version 2.0.0
// serves at the end.
func TestHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src, _ := probeDir(t, "1.0.0", "")
	pdir := filepath.Join(root, "probe")
	if err := os.CopyFS(pdir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	mgr, err := plugins.NewManager(plugins.Options{Dir: root, Runtimes: plugins.Runtimes{plugins.RuntimeWasm: newRuntime(wasm.Options{})},
		// Compiling the Go guest under -race on a loaded machine can
		// outlast the 30 s production bound: this test is about a reload
		// losing nothing, not about how fast a module compiles.
		ReloadDebounce: 20 * time.Millisecond, StartTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-mgr.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	proc, ok := mgr.Resolve("probe:echo")
	if !ok {
		t.Fatal("probe:echo not resolved")
	}
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		ran      atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if err := proc.ProcessTask(ctx, asynq.NewTask("probe:echo", []byte("x"))); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				ran.Add(1)
			}
		})
	}
	testutil.Poll(t, time.Minute, "50 tasks on 1.0.0", func() bool { return ran.Load() >= 50 })
	text := fmt.Sprintf(probeManifest, "2.0.0")
	if err := os.WriteFile(filepath.Join(pdir, plugins.ManifestFile), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 6*time.Minute, "2.0.0 loaded", func() bool {
		l := mgr.Loaded()
		return len(l) == 1 && l[0].Version == "2.0.0" && l[0].Status == plugins.StatusLoaded
	})
	after := ran.Load()
	testutil.Poll(t, time.Minute, "50 tasks on 2.0.0", func() bool { return ran.Load() >= after+50 })
	stop.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d tasks failed during the reload; first: %v", f, ran.Load(), firstErr.Load())
	}
}
