package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/native/sdk"
)

func settings(kv ...string) []debug.BuildSetting {
	var out []debug.BuildSetting
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

func workerInfo() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/tuskq/tuskq", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "github.com/hibiken/asynq", Version: "v0.26.0", Sum: "h1:a"},
			{Path: "github.com/redis/go-redis/v9", Version: "v9.23.0", Sum: "h1:b"},
		},
		Settings: settings("-buildmode", "exe", "CGO_ENABLED", "1", "GOOS", "linux", "GOARCH", "amd64", "GOAMD64", "v1"),
	}
}

func libInfo() *debug.BuildInfo {
	bi := workerInfo()
	bi.Path = "github.com/tuskq/tuskq/examples/plugins/native-hello"
	bi.Deps = []*debug.Module{{Path: "github.com/hibiken/asynq", Version: "v0.26.0", Sum: "h1:a"}}
	bi.Settings = settings("-buildmode", "plugin", "CGO_ENABLED", "1", "GOOS", "linux", "GOARCH", "amd64", "GOAMD64", "v1")
	return bi
}

func TestHostCheck(t *testing.T) {
	t.Parallel()
	noCgo := workerInfo()
	noCgo.Settings = settings("CGO_ENABLED", "0")
	cases := []struct {
		name string
		h    host
		err  error
		want string
	}{
		{"ok", host{goos: "linux", goarch: "amd64", info: workerInfo(), dynamic: true, dynKnown: true}, nil, ""},
		{"unknown linking", host{goos: "linux", goarch: "amd64"}, nil, ""},
		{"windows", host{goos: "windows", goarch: "amd64"}, ErrUnsupported,
			"this worker cannot load native plugins: Go supports plugins only on Linux, macOS and FreeBSD, and this worker runs on windows/amd64; use the process runtime"},
		{"no cgo", host{goos: "linux", goarch: "amd64", info: noCgo, dynamic: true, dynKnown: true}, ErrUnsupported,
			`this worker cannot load native plugins: it was built with CGO_ENABLED=0, and Go loads plugins only in a cgo-enabled binary (its plugin package answers "plugin: not implemented"); rebuild the worker with CGO_ENABLED=1 and a C compiler, or use the process runtime`},
		{"static", host{goos: "linux", goarch: "amd64", info: workerInfo(), dynamic: false, dynKnown: true}, ErrStaticHost,
			`this worker is statically linked: Go loads plugins only into a dynamically linked binary (a static one aborts with "runtime: no plugin module data"); rebuild the worker without -extldflags -static, or use the process runtime`},
	}
	for _, c := range cases {
		err := c.h.check()
		if c.err == nil {
			if err != nil {
				t.Errorf("%s: check() = %v; want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.err) || err.Error() != c.want {
			t.Errorf("%s: check() =\n%v\nwant\n%s", c.name, err, c.want)
		}
	}
}

func TestCompareBuilds(t *testing.T) {
	t.Parallel()
	h := host{info: workerInfo()}
	const path = "/p/hello.so"
	mod := func(f func(*debug.BuildInfo)) *debug.BuildInfo {
		bi := libInfo()
		f(bi)
		return bi
	}
	cases := []struct {
		name string
		lib  *debug.BuildInfo
		err  error
		want string
	}{
		{"same", libInfo(), nil, ""},
		{"exe", mod(func(bi *debug.BuildInfo) { bi.Settings[0].Value = "exe" }), ErrNotPlugin,
			"not a Go plugin: /p/hello.so was built with -buildmode=exe; build it with go build -buildmode=plugin (make plugins)"},
		{"toolchain", mod(func(bi *debug.BuildInfo) { bi.GoVersion = "go1.26.7" }), ErrToolchain,
			"built with a different Go toolchain: the library was built with go1.26.7 and the worker with go1.26.8; build it with the worker's Go (make plugins uses the go on PATH)"},
		{"race", mod(func(bi *debug.BuildInfo) { bi.Settings = append(bi.Settings, settings("-race", "true")...) }), ErrBuildFlags,
			"built with different build flags: -race is true in the library and false in the worker; build the library with exactly the worker's flags (make plugins uses the same as make build; a go test -race binary needs a -race library)"},
		{"trimpath and arch level", mod(func(bi *debug.BuildInfo) {
			bi.Settings = append(bi.Settings, settings("-trimpath", "true")...)
			bi.Settings[4].Value = "v3"
		}), ErrBuildFlags,
			"built with different build flags: -trimpath is true in the library and false in the worker, GOAMD64 is v3 in the library and v1 in the worker; build the library with exactly the worker's flags (make plugins uses the same as make build; a go test -race binary needs a -race library)"},
		{"dependency", mod(func(bi *debug.BuildInfo) {
			bi.Deps = append(bi.Deps, &debug.Module{Path: "github.com/redis/go-redis/v9", Version: "v9.22.0", Sum: "h1:c"},
				&debug.Module{Path: "example.com/only-in-plugin", Version: "v1.0.0"})
		}), ErrDependency,
			"built with different dependency versions: github.com/redis/go-redis/v9 is v9.22.0 (h1:c) in the library and v9.23.0 (h1:b) in the worker; build the library in the worker's module (same go.mod and go.sum)"},
		{"replaced dependency", mod(func(bi *debug.BuildInfo) {
			bi.Deps[0].Replace = &debug.Module{Path: "../asynq"}
		}), ErrDependency,
			"built with different dependency versions: github.com/hibiken/asynq is ../asynq (local replacement) in the library and v0.26.0 (h1:a) in the worker; build the library in the worker's module (same go.mod and go.sum)"},
	}
	for _, c := range cases {
		err := h.compare(path, c.lib)
		if c.err == nil {
			if err != nil {
				t.Errorf("%s: compare() = %v; want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.err) || err.Error() != c.want {
			t.Errorf("%s: compare() =\n%v\nwant\n%s", c.name, err, c.want)
		}
	}
	// Without the worker's build info only the build mode can be checked.
	if err := (host{}).compare(path, mod(func(bi *debug.BuildInfo) { bi.GoVersion = "go1.1" })); err != nil {
		t.Errorf("compare without worker info = %v; want nil", err)
	}
}

func TestClassifyOpen(t *testing.T) {
	t.Parallel()
	h, lib := workerInfo(), libInfo()
	lib.Settings = append(lib.Settings, settings("-race", "true")...)
	const path = "/p/hello.so"
	cases := []struct {
		msg  string
		err  error
		want string
	}{
		{"plugin: not implemented", ErrUnsupported,
			`this worker cannot load native plugins: Go's plugin package answered "plugin: not implemented": the worker was built with CGO_ENABLED=0 or for a platform without plugin support; rebuild it with CGO_ENABLED=1, or use the process runtime`},
		{`plugin.Open("/c/x"): plugin was built with a different version of package github.com/tuskq/tuskq/plugins/native/sdk`, ErrPackageMismatch,
			`built from a different version of a package github.com/tuskq/tuskq/plugins/native/sdk: /p/hello.so: the library and the worker must be built from the same source tree, with the same go.mod and go.sum, the same Go toolchain and the same flags (-race, -trimpath, -cover, -gcflags, -tags) (worker: go1.26.8 linux/amd64; library: go1.26.8 linux/amd64 -race); rebuild the library with make plugins after rebuilding the worker (Go error: plugin.Open("/c/x"): plugin was built with a different version of package github.com/tuskq/tuskq/plugins/native/sdk)`},
		{`plugin.Open("/c/x"): plugin already loaded`, ErrAlreadyLoaded,
			`another build of this plugin path is already loaded: /p/hello.so has the plugin path of a library this worker loaded before, but different contents; Go cannot unload a plugin or load two builds with the same plugin path: rebuild it with a new -ldflags=-pluginpath=X and -gcflags=PKG=-p=X (make plugins derives X from the version and a hash of the sources), or restart the worker (Go error: plugin.Open("/c/x"): plugin already loaded)`},
		{`plugin.Open("/c/x"): /c/x.so: undefined symbol: tuskq-plugin/x.init`, ErrLoad,
			`cannot load the library: /p/hello.so: the library refers to symbols the worker does not have: it was built against different builds of the worker's packages, or with -ldflags=-pluginpath but without the matching -gcflags=PKG=-p (make plugins sets both) (worker: go1.26.8 linux/amd64; library: go1.26.8 linux/amd64 -race) (loader error: plugin.Open("/c/x"): /c/x.so: undefined symbol: tuskq-plugin/x.init)`},
		{`plugin.Open("/c/x"): /c/x.so: invalid ELF header`, ErrNotPlugin,
			`not a Go plugin: /p/hello.so is not a shared library for this platform (loader error: plugin.Open("/c/x"): /c/x.so: invalid ELF header)`},
		{`plugin.Open("/c/x"): something else`, ErrLoad,
			`cannot load the library: /p/hello.so: plugin.Open("/c/x"): something else`},
	}
	for _, c := range cases {
		err := classifyOpen(errors.New(c.msg), path, h, lib)
		if !errors.Is(err, c.err) || err.Error() != c.want {
			t.Errorf("classifyOpen(%q) =\n%v\nwant\n%s", c.msg, err, c.want)
		}
	}
	err := classifyLookup(errors.New("plugin: symbol Plugin not found in plugin tuskq-plugin/x"), path)
	if want := "missing symbol: /p/hello.so exports no variable Plugin (Go error: plugin: symbol Plugin not found in plugin tuskq-plugin/x); declare one in package main: var Plugin sdk.Plugin = …"; !errors.Is(err, ErrSymbol) || err.Error() != want {
		t.Errorf("classifyLookup =\n%v\nwant\n%s", err, want)
	}
}

type good struct{}

func (good) Name() string                                   { return "good" }
func (good) Version() string                                { return "1" }
func (good) Description() string                            { return "" }
func (good) Validate(map[string]any) error                  { return nil }
func (good) ProcessTask(context.Context, *asynq.Task) error { return nil }

type ptrGood struct{ good }

func (*ptrGood) Validate(map[string]any) error { return nil }

type wrongSig struct{}

func (wrongSig) Name() string                                             { return "w" }
func (wrongSig) Version() string                                          { return "1" }
func (wrongSig) ProcessTask(context.Context, *asynq.Task) ([]byte, error) { return nil, nil }

func TestAsPlugin(t *testing.T) {
	t.Parallel()
	const path = "/p/x.so"
	var iface sdk.Plugin = good{}
	var nilIface sdk.Plugin
	var value good
	var ptr ptrGood
	for name, sym := range map[string]any{"*sdk.Plugin": &iface, "*good": &value, "*ptrGood": &ptr} {
		if p, err := asPlugin(sym, path); err != nil || p == nil {
			t.Errorf("asPlugin(%s) = %v, %v; want the plugin", name, p, err)
		}
	}
	var n int
	var anyWrong any = wrongSig{}
	var anyNil any
	fn := func() sdk.Plugin { return good{} }
	cases := []struct {
		name string
		sym  any
		want string
	}{
		{"nil interface", &nilIface, "wrong symbol type: /p/x.so exports Plugin as a nil sdk.Plugin; assign it a value"},
		{"function", fn, "wrong symbol type: /p/x.so exports Plugin as a function (func() sdk.Plugin); export a variable instead: var Plugin sdk.Plugin = …"},
		{"int", &n, "wrong symbol type: /p/x.so exports Plugin of type int, which does not implement sdk.Plugin: " +
			"missing method Description() string; missing method Name() string; missing method ProcessTask(context.Context, *asynq.Task) error; " +
			"missing method Validate(map[string]interface {}) error; missing method Version() string"},
		{"wrong signature in an any", &anyWrong, "wrong symbol type: /p/x.so exports Plugin of type native.wrongSig, which does not implement sdk.Plugin: " +
			"missing method Description() string; method ProcessTask is func(context.Context, *asynq.Task) ([]uint8, error), want func(context.Context, *asynq.Task) error; " +
			"missing method Validate(map[string]interface {}) error"},
		{"nil any", &anyNil, "wrong symbol type: /p/x.so exports Plugin as a nil interface {}; assign it a value implementing sdk.Plugin"},
	}
	for _, c := range cases {
		_, err := asPlugin(c.sym, path)
		if !errors.Is(err, ErrType) || err.Error() != c.want {
			t.Errorf("asPlugin(%s) =\n%v\nwant\n%s", c.name, err, c.want)
		}
	}
}

func TestCacheDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "cache")
	if err := prepareCacheDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	src := filepath.Join(base, "lib.so")
	if err := os.WriteFile(src, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	p1, d1, size, err := cacheCopy(dir, plugins.Spec{Entry: src})
	if err != nil || size != 2 || p1 != filepath.Join(dir, d1+".so") || d1 != "3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe" {
		t.Fatalf("cacheCopy = %s, %s, %d, %v", p1, d1, size, err)
	}
	again, _, _, err := cacheCopy(dir, plugins.Spec{Entry: src})
	if err != nil || again != p1 {
		t.Fatalf("second cacheCopy of the same bytes = %s, %v; want %s", again, err, p1)
	}
	if err := os.WriteFile(src, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p2, _, _, err := cacheCopy(dir, plugins.Spec{Entry: src}); err != nil || p2 == p1 {
		t.Fatalf("cacheCopy of new bytes = %s, %v; want a new path", p2, err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	err = prepareCacheDir(dir)
	if want := "unusable native plugin cache directory: " + dir + " is writable by group or others (mode 0770), so they could replace the code the worker loads; run chmod go-w " + dir + " or choose another directory"; !errors.Is(err, ErrCacheDir) || err.Error() != want {
		t.Fatalf("prepareCacheDir(0770) =\n%v\nwant\n%s", err, want)
	}
}

func TestELFDynamic(t *testing.T) {
	t.Parallel()
	if dyn, known := elfDynamic("/proc/self/exe"); !known || !dyn {
		t.Errorf("elfDynamic(test binary) = %v, %v; want dynamic (cgo test binaries are)", dyn, known)
	}
	notELF := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, known := elfDynamic(notELF); known {
		t.Error("elfDynamic(shell script) known = true; want false")
	}
}
