package native

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// The conditions a load can fail on; see the package documentation.
var (
	// ErrUnsupported: the worker cannot load any Go plugin (built without
	// cgo, or on a platform without plugin support).
	ErrUnsupported = errors.New("this worker cannot load native plugins")
	// ErrStaticHost: the worker is statically linked.
	ErrStaticHost = errors.New("this worker is statically linked")
	// ErrNotPlugin: the entry is not a library built with -buildmode=plugin.
	ErrNotPlugin = errors.New("not a Go plugin")
	// ErrToolchain: the library and the worker were built by different Go
	// releases.
	ErrToolchain = errors.New("built with a different Go toolchain")
	// ErrBuildFlags: the library and the worker were built with different
	// code-changing flags (-race, -trimpath, GOARCH, …).
	ErrBuildFlags = errors.New("built with different build flags")
	// ErrDependency: the library and the worker use different versions of
	// a module.
	ErrDependency = errors.New("built with different dependency versions")
	// ErrPackageMismatch: Go found a package built differently in the
	// library and in the worker.
	ErrPackageMismatch = errors.New("built from a different version of a package")
	// ErrAlreadyLoaded: another build with the same plugin path is loaded.
	ErrAlreadyLoaded = errors.New("another build of this plugin path is already loaded")
	// ErrSymbol: the library does not export Plugin.
	ErrSymbol = errors.New("missing symbol")
	// ErrType: the exported Plugin does not implement sdk.Plugin.
	ErrType = errors.New("wrong symbol type")
	// ErrIdentity: the plugin's Name or Version differs from its manifest.
	ErrIdentity = errors.New("plugin does not match its manifest")
	// ErrConfig: the plugin's Validate rejected its configuration.
	ErrConfig = errors.New("configuration rejected by the plugin")
	// ErrLoad: the dynamic loader failed for another reason (its message
	// is included).
	ErrLoad = errors.New("cannot load the library")
)

// host describes the running worker binary, as far as loading plugins is
// concerned.
type host struct {
	goos, goarch string
	info         *debug.BuildInfo // nil when the binary has none
	// dynamic is false for a statically linked binary; known is false
	// when it could not be determined (then plugin.Open decides).
	dynamic, dynKnown bool
}

// currentHost inspects the running binary.
func currentHost() host {
	h := host{goos: runtime.GOOS, goarch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		h.info = bi
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "freebsd" {
		h.dynamic, h.dynKnown = elfDynamic("/proc/self/exe")
	}
	return h
}

// elfDynamic reports whether the ELF file at path has a program
// interpreter (is dynamically linked).
func elfDynamic(path string) (dynamic, known bool) {
	f, err := elf.Open(path)
	if err != nil {
		return false, false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, true
		}
	}
	return false, true
}

// setting returns the value of a build setting ("" when absent).
func setting(bi *debug.BuildInfo, key string) string {
	if bi == nil {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// check refuses a host that cannot load any plugin.
func (h host) check() error {
	switch h.goos {
	case "linux", "darwin", "freebsd":
	default:
		return fmt.Errorf("%w: Go supports plugins only on Linux, macOS and FreeBSD, and this worker runs on %s/%s; use the process runtime", ErrUnsupported, h.goos, h.goarch)
	}
	if setting(h.info, "CGO_ENABLED") == "0" {
		return fmt.Errorf("%w: it was built with CGO_ENABLED=0, and Go loads plugins only in a cgo-enabled binary (its plugin package answers \"plugin: not implemented\"); rebuild the worker with CGO_ENABLED=1 and a C compiler, or use the process runtime", ErrUnsupported)
	}
	if h.dynKnown && !h.dynamic {
		return fmt.Errorf("%w: Go loads plugins only into a dynamically linked binary (a static one aborts with \"runtime: no plugin module data\"); rebuild the worker without -extldflags -static, or use the process runtime", ErrStaticHost)
	}
	return nil
}

// codeFlags are the build settings that change compiled code: a library
// and the worker that loads it must agree on each.
var codeFlags = []string{"-race", "-msan", "-asan", "-trimpath", "-cover", "CGO_ENABLED", "GOOS", "GOARCH",
	"GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM", "GOEXPERIMENT"}

// boolFlags default to "false" when absent.
var boolFlags = []string{"-race", "-msan", "-asan", "-trimpath", "-cover"}

// compare checks the build info of a library (lib) against the worker's
// (h.info) and returns the first condition that fails. It cannot see
// differences inside the source tree: plugin.Open reports those.
func (h host) compare(path string, lib *debug.BuildInfo) error {
	if mode := setting(lib, "-buildmode"); mode != "plugin" {
		return fmt.Errorf("%w: %s was built with -buildmode=%s; build it with go build -buildmode=plugin (make plugins)", ErrNotPlugin, path, orUnknown(mode))
	}
	if h.info == nil {
		return nil // nothing to compare with: plugin.Open decides
	}
	if lib.GoVersion != h.info.GoVersion {
		return fmt.Errorf("%w: the library was built with %s and the worker with %s; build it with the worker's Go (make plugins uses the go on PATH)", ErrToolchain, lib.GoVersion, h.info.GoVersion)
	}
	var diffs []string
	for _, k := range codeFlags {
		lv, hv := setting(lib, k), setting(h.info, k)
		if slices.Contains(boolFlags, k) {
			lv, hv = boolDefault(lv), boolDefault(hv)
		}
		if lv != hv {
			diffs = append(diffs, fmt.Sprintf("%s is %s in the library and %s in the worker", k, orUnset(lv), orUnset(hv)))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s; build the library with exactly the worker's flags (make plugins uses the same as make build; a go test -race binary needs a -race library)", ErrBuildFlags, strings.Join(diffs, ", "))
	}
	if diffs := depDiffs(h.info, lib); len(diffs) > 0 {
		return fmt.Errorf("%w: %s; build the library in the worker's module (same go.mod and go.sum)", ErrDependency, strings.Join(diffs, ", "))
	}
	return nil
}

// depDiffs lists the modules that both binaries contain in different
// versions (after replacements).
func depDiffs(host, lib *debug.BuildInfo) []string {
	mods := make(map[string]string)
	add := func(m *debug.Module) {
		if m == nil || m.Path == "" {
			return
		}
		mods[m.Path] = moduleVersion(m)
	}
	add(&host.Main)
	for _, m := range host.Deps {
		add(m)
	}
	var diffs []string
	check := func(m *debug.Module) {
		if m == nil || m.Path == "" {
			return
		}
		hv, ok := mods[m.Path]
		if lv := moduleVersion(m); ok && lv != hv {
			diffs = append(diffs, fmt.Sprintf("%s is %s in the library and %s in the worker", m.Path, lv, hv))
		}
	}
	if lib.Main.Path != host.Main.Path {
		check(&lib.Main)
	}
	for _, m := range lib.Deps {
		check(m)
	}
	const maxListed = 5
	if len(diffs) > maxListed {
		diffs = append(diffs[:maxListed], fmt.Sprintf("and %d more", len(diffs)-maxListed))
	}
	return diffs
}

// moduleVersion is the version a module resolved to, with its checksum
// when known, so that two builds of one version with different contents
// (a replaced module) differ too.
func moduleVersion(m *debug.Module) string {
	if m.Replace != nil {
		m = m.Replace
		if m.Version == "" {
			return m.Path + " (local replacement)"
		}
	}
	if m.Sum != "" {
		return m.Version + " (" + m.Sum + ")"
	}
	return m.Version
}

func boolDefault(v string) string {
	if v == "" {
		return "false"
	}
	return v
}

func orUnset(v string) string {
	if v == "" {
		return "unset"
	}
	return v
}

func orUnknown(v string) string {
	if v == "" {
		return "exe (or unknown)"
	}
	return v
}

// readLibInfo reads the build info of the library at path; name is how
// errors call it.
func readLibInfo(path, name string) (*debug.BuildInfo, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		// The error names the cached copy; keep only the reason.
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w: %s: %w; build it with go build -buildmode=plugin (make plugins)", ErrNotPlugin, name, err)
	}
	return bi, nil
}

// summary describes a build for error messages.
func summary(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown build"
	}
	parts := []string{bi.GoVersion, setting(bi, "GOOS") + "/" + setting(bi, "GOARCH")}
	for _, k := range boolFlags {
		if setting(bi, k) == "true" {
			parts = append(parts, k)
		}
	}
	if t := setting(bi, "-tags"); t != "" {
		parts = append(parts, "-tags="+t)
	}
	return strings.Join(parts, " ")
}
