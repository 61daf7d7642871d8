package wasm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/wasm"
)

var buildDir string

// TestMain checks for leaked goroutines and removes the guests built for
// the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tuskq-wasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(testutil.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildMu    sync.Mutex
	built      = map[string]string{}
	buildFails = map[string]string{}
)

// guest builds the guest package pkg (relative to the module root) with
// GOOS=wasip1 once per test binary and returns the module's path. It
// skips the test when the Go toolchain cannot target wasip1.
func guest(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if msg, ok := buildFails[pkg]; ok {
		t.Skip(msg)
	}
	out := filepath.Join(buildDir, strings.ReplaceAll(pkg, "/", "_")+".wasm")
	cmd := exec.CommandContext(context.WithoutCancel(t.Context()), goTool(), "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "unsupported GOOS/GOARCH") || strings.Contains(string(b), "-buildmode=c-shared not supported") {
			buildFails[pkg] = "the Go toolchain cannot build wasip1 reactors here (" + strings.TrimSpace(string(b)) + "); skipping the wasm runtime tests"
			t.Skip(buildFails[pkg])
		}
		t.Fatalf("build the test guest %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// goTool is the go command on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

const probeManifest = `name: probe
version: %s
runtime: wasm
entry: probe.wasm
task_types:
  probe:echo: {}
  probe:noop: {}
  probe:count: {}
  probe:fail: {}
  probe:skip: {}
  probe:sandbox: {}
  probe:http: {}
  probe:loop: {}
  probe:alloc: {}
  probe:panic: {}
  probe:version: {}
  probe:meta: {}
  probe:keep: {}
  probe:configerr: {}
`

// probeDir makes a plugin directory holding the probe guest, its
// manifest (probeManifest plus extra) and data/granted.txt.
func probeDir(t testing.TB, version, extra string) (dir string, m *plugins.Manifest) {
	t.Helper()
	dir = t.TempDir()
	code, err := os.ReadFile(guest(t, "plugins/wasm/testdata/probe"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe.wasm"), code, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "granted.txt"), []byte("granted"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(probeManifest, version) + extra
	file := filepath.Join(dir, plugins.ManifestFile)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err = plugins.ParseManifest(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// startProbe starts the probe guest on rt and closes it when the test
// ends.
func startProbe(t testing.TB, rt *wasm.Runtime, extra string, logs *testutil.LogBuffer, env ...string) plugins.Instance {
	t.Helper()
	dir, m := probeDir(t, "1.0.0", extra)
	spec := plugins.Spec{Manifest: m, Dir: dir, Entry: filepath.Join(dir, "probe.wasm"), Env: env}
	if logs != nil {
		spec.Logger = logs.Logger(t, nil).With("plugin", m.Name, "version", m.Version)
	}
	inst, err := rt.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Close(context.WithoutCancel(t.Context())); err != nil {
			t.Error(err)
		}
	})
	return inst
}

// traceCtx returns a context carrying a span context with traceID.
func traceCtx(t testing.TB, traceID string) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(t.Context(), sc)
}

func run(ctx context.Context, inst plugins.Instance, typ, payload string) (string, error) {
	res, err := inst.Process(ctx, asynq.NewTask(typ, []byte(payload)), plugins.Meta{})
	return string(res), err
}

// newRuntime returns a runtime whose compilation cache (when opts sets
// none) is shared by the package's tests, so that the guest compiles once.
func newRuntime(opts wasm.Options) *wasm.Runtime {
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(buildDir, "cache")
	}
	return wasm.New(opts)
}
