package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
)

const examplePkg = "github.com/tuskq/tuskq/examples/plugins/native-hello"

// builder builds variants of the example plugin with the flags of the
// running test binary, as make plugins does for the worker.
type builder struct {
	root  string // module root
	dir   string // output directory
	flags []string
	goBin string
}

// newBuilder skips the test when this test binary cannot load plugins or
// when -short asks for quick tests only (a cold plugin build takes a
// minute; a warm one a few seconds).
func newBuilder(t *testing.T) *builder {
	t.Helper()
	if testing.Short() {
		t.Skip("builds Go plugins (about a minute cold, a few seconds warm); skipped with -short")
	}
	if testing.CoverMode() != "" {
		t.Skip("a coverage-instrumented test binary cannot load a plugin built without the same instrumentation")
	}
	h := currentHost()
	if err := h.check(); err != nil {
		t.Skipf("this test binary cannot load plugins: %v", err)
	}
	var flags []string
	// A plugin must be built with the code-changing flags of the binary
	// that loads it: a go test -race binary needs a -race plugin.
	for _, f := range []string{"-race", "-msan", "-asan", "-trimpath"} {
		if setting(h.info, f) == "true" {
			flags = append(flags, f)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build plugins with: %v", err)
	}
	out, err := exec.Command(goBin, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env GOVERSION: %v", err)
	}
	if v := strings.TrimSpace(string(out)); v != runtime.Version() {
		t.Skipf("the go on PATH is %s but this test binary was built by %s; a plugin must come from the same toolchain", v, runtime.Version())
	}
	return &builder{root: root, dir: t.TempDir(), flags: flags, goBin: goBin}
}

// variant is one library to build: the example with main.go replaced by
// source (when not empty) under the plugin path pp.
type variant struct {
	name, pp, source string
	// noRace builds without -race even when the test binary has it.
	noRace bool
}

// buildAll builds the variants one after the other (concurrent builds
// are slower on a small machine: each link is big) and returns their paths
// by name.
func (b *builder) buildAll(t *testing.T, vs ...variant) map[string]string {
	t.Helper()
	paths := make(map[string]string, len(vs))
	for _, v := range vs {
		out := filepath.Join(b.dir, v.name+".so")
		if err := b.build(t, v, out); err != nil {
			t.Fatal(err)
		}
		paths[v.name] = out
	}
	return paths
}

func (b *builder) build(t *testing.T, v variant, out string) error {
	var flags []string
	for _, f := range b.flags {
		if f != "-race" || !v.noRace {
			flags = append(flags, f)
		}
	}
	args := append([]string{"build", "-buildmode=plugin"}, flags...)
	args = append(args, "-ldflags=-pluginpath="+v.pp, "-gcflags="+examplePkg+"=-p="+v.pp, "-o", out)
	if v.source != "" {
		src := filepath.Join(b.dir, v.name+".go")
		if err := os.WriteFile(src, []byte(v.source), 0o600); err != nil {
			return err
		}
		overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(b.root, "examples/plugins/native-hello/main.go"): src,
		}})
		if err != nil {
			return err
		}
		ov := filepath.Join(b.dir, v.name+".overlay.json")
		if err := os.WriteFile(ov, overlay, 0o600); err != nil {
			return err
		}
		args = append(args, "-overlay="+ov)
	}
	args = append(args, examplePkg)
	start := time.Now()
	cmd := exec.Command(b.goBin, args...)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, outb)
	}
	t.Logf("built %s in %v (flags %v)", v.name, time.Since(start).Round(time.Millisecond), flags)
	return nil
}

// exampleSource returns the example's main.go with its version replaced.
func (b *builder) exampleSource(t *testing.T, version string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(b.root, "examples/plugins/native-hello/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), `const version = "1.0.0"`, `const version = "`+version+`"`, 1)
	if s == string(src) {
		t.Fatal("the example's main.go no longer declares const version = \"1.0.0\"")
	}
	return s
}

func exampleManifest(t *testing.T, b *builder, version string) *plugins.Manifest {
	t.Helper()
	file := filepath.Join(b.root, "examples/plugins/native-hello/plugin.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := plugins.ParseManifest(file, data)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = version
	return m
}

func greet(t *testing.T, in plugins.Instance, cfg map[string]any, name string) (string, error) {
	t.Helper()
	res, err := in.Process(t.Context(), asynq.NewTask("native:hello", []byte(`{"name":"`+name+`"}`)), plugins.Meta{Config: cfg})
	return string(res), err
}

// TestLoadExample builds the example plugin, loads it, reloads a second
// version beside it, and checks the failures a load can meet. Loading is
// process-wide and permanent, so the steps run in order in one test.
func TestLoadExample(t *testing.T) {
	b := newBuilder(t)
	r := New(Options{CacheDir: filepath.Join(b.dir, "cache")})
	ctx := t.Context()
	libs := b.buildAll(t,
		variant{name: "v1", pp: "tuskq-test/native-hello/v1"},
		variant{name: "v2", pp: "tuskq-test/native-hello/v2", source: b.exampleSource(t, "1.0.1")},
		// Not the example at all, but under v1's plugin path.
		variant{name: "dup", pp: "tuskq-test/native-hello/v1", source: "package main\n\nvar Plugin = 1\n\nfunc main() {}\n"},
		variant{name: "nosym", pp: "tuskq-test/nosym", source: "package main\n\nvar Other = 1\n\nfunc main() {}\n"},
		variant{name: "wrongtype", pp: "tuskq-test/wrongtype", source: "package main\n\nvar Plugin = \"hello\"\n\nfunc main() {}\n"},
	)
	v1, v2, dup, nosym, wrong := libs["v1"], libs["v2"], libs["dup"], libs["nosym"], libs["wrongtype"]
	m1 := exampleManifest(t, b, "1.0.0")

	in1, err := r.Start(ctx, plugins.Spec{Manifest: m1, Entry: v1})
	if err != nil {
		t.Fatalf("Start(v1): %v", err)
	}
	got, err := greet(t, in1, m1.Config, "Ann")
	if want := `{"greeting":"Hello, Ann!","version":"1.0.0"}`; err != nil || got != want {
		t.Fatalf("Process = %s, %v; want %s", got, err, want)
	}

	// A configuration override is validated before the next task.
	_, err = greet(t, in1, map[string]any{"greeting": 5.0}, "Ann")
	if want := "native: configuration rejected by the plugin: Validate: config.greeting: want a non-empty string, got 5; fix the override with: worker plugins config native-hello KEY=VALUE"; !errors.Is(err, ErrConfig) || err == nil || err.Error() != want {
		t.Fatalf("Process with a bad config = %v; want %s", err, want)
	}
	if got, err := greet(t, in1, map[string]any{"greeting": "Hi"}, "Bo"); err != nil || got != `{"greeting":"Hi, Bo!","version":"1.0.0"}` {
		t.Fatalf("Process with greeting Hi = %s, %v", got, err)
	}
	_, err = in1.Process(ctx, asynq.NewTask("native:hello", []byte(`{}`)), plugins.Meta{Config: m1.Config})
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("Process of a payload without name = %v; want SkipRetry", err)
	}

	// The same bytes again reuse the loaded library.
	if _, err := r.Start(ctx, plugins.Spec{Manifest: m1, Entry: v1}); err != nil {
		t.Fatalf("second Start(v1): %v", err)
	}
	if n := len(r.Libraries()); n != 1 {
		t.Fatalf("%d libraries after loading v1 twice; want 1", n)
	}

	// Hot reload: v2 with its own plugin path loads beside v1; both serve.
	_, err = r.Start(ctx, plugins.Spec{Manifest: m1, Entry: v2})
	if want := `native: native-hello 1.0.0: plugin does not match its manifest: ` + v2 + ` reports Name() "native-hello" and Version() "1.0.1", but its manifest ` + m1.File + ` says name "native-hello" and version "1.0.0"; make them equal and rebuild (make plugins)`; !errors.Is(err, ErrIdentity) || err.Error() != want {
		t.Fatalf("Start(v2 with the v1 manifest) =\n%v\nwant\n%s", err, want)
	}
	in2, err := r.Start(ctx, plugins.Spec{Manifest: exampleManifest(t, b, "1.0.1"), Entry: v2})
	if err != nil {
		t.Fatalf("Start(v2): %v", err)
	}
	if got, err := greet(t, in2, m1.Config, "Cy"); err != nil || got != `{"greeting":"Hello, Cy!","version":"1.0.1"}` {
		t.Fatalf("v2 Process = %s, %v", got, err)
	}
	if got, err := greet(t, in1, m1.Config, "Cy"); err != nil || got != `{"greeting":"Hello, Cy!","version":"1.0.0"}` {
		t.Fatalf("v1 Process after v2 loaded = %s, %v", got, err)
	}
	loaded := r.Libraries()
	if len(loaded) != 2 || loaded[0].Version != "1.0.0" || loaded[1].Version != "1.0.1" || loaded[0].Source != v1 {
		t.Fatalf("Libraries() = %+v; want v1 then v2", loaded)
	}
	if err := in1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := greet(t, in1, m1.Config, "Di"); !errors.Is(err, plugins.ErrClosed) {
		t.Fatalf("Process after Close = %v; want ErrClosed", err)
	}

	// A different build under a plugin path already loaded is refused, and
	// asking again answers at once (Go would block on a second Open).
	for range 2 {
		_, err = r.Start(ctx, plugins.Spec{Manifest: exampleManifest(t, b, "1.0.2"), Entry: dup})
		if !errors.Is(err, ErrAlreadyLoaded) || !strings.Contains(err.Error(), "Go cannot unload a plugin") {
			t.Fatalf("Start(dup) = %v; want ErrAlreadyLoaded", err)
		}
	}

	_, err = r.Start(ctx, plugins.Spec{Manifest: m1, Entry: nosym})
	if want := "native: native-hello 1.0.0: missing symbol: " + nosym + " exports no variable Plugin (Go error: plugin: symbol Plugin not found in plugin tuskq-test/nosym); declare one in package main: var Plugin sdk.Plugin = …"; !errors.Is(err, ErrSymbol) || err.Error() != want {
		t.Fatalf("Start(nosym) =\n%v\nwant\n%s", err, want)
	}
	_, err = r.Start(ctx, plugins.Spec{Manifest: m1, Entry: wrong})
	if want := "native: native-hello 1.0.0: wrong symbol type: " + wrong + " exports Plugin of type string, which does not implement sdk.Plugin: missing method Description() string; "; !errors.Is(err, ErrType) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Start(wrongtype) =\n%v\nwant prefix\n%s", err, want)
	}

	// A library built with different code-changing flags is refused
	// before it is mapped. Under -race that is real: a library built
	// without it. Otherwise (building a -race library costs minutes cold)
	// the worker's build info is made to claim -trimpath.
	if slices.Contains(b.flags, "-race") {
		norace := b.buildAll(t, variant{name: "norace", pp: "tuskq-test/norace", source: "package main\n\nvar Plugin = 1\n\nfunc main() {}\n", noRace: true})["norace"]
		_, err = r.Start(ctx, plugins.Spec{Manifest: m1, Entry: norace})
		if want := "native: native-hello 1.0.0: built with different build flags: -race is false in the library and true in the worker; "; !errors.Is(err, ErrBuildFlags) || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("Start(a library without -race) =\n%v\nwant prefix\n%s", err, want)
		}
		return
	}
	info, err := readLibInfo(v1, v1)
	if err != nil {
		t.Fatal(err)
	}
	if setting(info, "-trimpath") == "true" {
		t.Skip("the test binary uses -trimpath; the mismatch below needs one without")
	}
	other := r.host
	other.info = &debug.BuildInfo{GoVersion: info.GoVersion, Main: info.Main, Settings: append([]debug.BuildSetting(nil), info.Settings...)}
	other.info.Settings = append(other.info.Settings, debug.BuildSetting{Key: "-trimpath", Value: "true"})
	if err := other.compare(v1, info); !errors.Is(err, ErrBuildFlags) || !strings.Contains(err.Error(), "-trimpath is false in the library and true in the worker") {
		t.Fatalf("compare with a -trimpath worker = %v; want ErrBuildFlags naming -trimpath", err)
	}
}

func TestNotAPlugin(t *testing.T) {
	t.Parallel()
	h := currentHost()
	if err := h.check(); err != nil {
		t.Skipf("this test binary cannot load plugins: %v", err)
	}
	dir := t.TempDir()
	entry := filepath.Join(dir, "x.so")
	if err := os.WriteFile(entry, []byte("not a library"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{CacheDir: filepath.Join(dir, "cache")})
	m := &plugins.Manifest{Name: "x", Version: "1", File: filepath.Join(dir, "plugin.yaml")}
	_, err := r.Start(t.Context(), plugins.Spec{Manifest: m, Entry: entry})
	if want := "native: x 1: not a Go plugin: " + entry + ": unrecognized file format; build it with go build -buildmode=plugin (make plugins)"; !errors.Is(err, ErrNotPlugin) || err.Error() != want {
		t.Fatalf("Start(text file) =\n%v\nwant\n%s", err, want)
	}
	_, err = r.Start(t.Context(), plugins.Spec{Manifest: m, Entry: filepath.Join(dir, "missing.so")})
	if !errors.Is(err, ErrLoad) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start(missing file) = %v; want ErrLoad wrapping ErrNotExist", err)
	}
}
