// Package native is the plugin runtime for Go plugins: shared libraries
// built with go build -buildmode=plugin and loaded into the worker process
// with the standard library's plugin package. It is the fastest runtime (a
// task is a method call) and the most demanding one.
//
// # What a native plugin is
//
// A Go package main that exports a variable named Plugin whose value
// implements sdk.Plugin (package plugins/native/sdk): Name, Version,
// Description, Validate(config) and ProcessTask(ctx, task). Its manifest
// names runtime: native and, as entry, the .so file. The example is
// examples/plugins/native-hello; "make plugins" builds it.
//
// Start loads the library, looks up Plugin, checks that its Name and
// Version equal the manifest's, and calls Validate with the manifest's
// configuration defaults. Each task then calls ProcessTask with a context
// that carries the effective configuration (sdk.Config), the plugin's
// logger (sdk.Logger) and a slot for the result (sdk.SetResult). When the
// fleet-wide configuration changes, Validate is called again with the new
// configuration before the next task; while it rejects it, tasks fail with
// its error and follow the retry path. A panic in ProcessTask fails the
// task; it does not crash the worker.
//
// # When a native plugin can be loaded
//
// Go loads a plugin only when all of the following hold. Start checks each
// one it can before the library is mapped (a library, once mapped, can
// never be unmapped) and otherwise turns the error of the plugin package
// into one that names the condition. Each error wraps one of the sentinels
// below.
//
//  1. The worker is built with cgo (CGO_ENABLED=1) on Linux, macOS or
//     FreeBSD. Otherwise the plugin package is a stub whose Open fails with
//     "plugin: not implemented" (ErrUnsupported).
//  2. The worker is dynamically linked. A statically linked worker (for
//     example -ldflags '-extldflags -static') cannot load a plugin; Go
//     aborts the process with "runtime: no plugin module data" instead of
//     returning an error, so Start refuses first (ErrStaticHost).
//  3. The library was built with -buildmode=plugin (ErrNotPlugin).
//  4. Both were built by the same Go release (ErrToolchain).
//  5. Both were built with the same flags that change compiled code: -race,
//     -msan, -asan, -trimpath, -cover, GOARCH and its level (GOAMD64…),
//     CGO_ENABLED (ErrBuildFlags). A test binary built with go test -race
//     can only load a plugin built with -race.
//  6. Every package the two share, standard library included, is the same
//     build: same module versions (ErrDependency, with the list read from
//     both build infos), and for packages of the source tree itself the
//     same source. Go reports a difference only as "plugin was built with
//     a different version of package P", which Start explains
//     (ErrPackageMismatch).
//  7. No other build of the same plugin path is loaded (ErrAlreadyLoaded),
//     see below.
//  8. The library exports Plugin (ErrSymbol) and its value implements
//     sdk.Plugin (ErrType: the error lists the missing or mismatched
//     methods). Its Name and Version equal the manifest's (ErrIdentity)
//     and Validate accepts the configuration defaults (ErrConfig).
//
// In practice: build plugins from the worker's source tree with the
// worker's go.mod, the same go command and the same flags, which is what
// "make plugins" does, and rebuild them whenever the worker is rebuilt.
// When that cannot be guaranteed, use the process runtime.
//
// # Hot reload and why a plugin cannot be unloaded
//
// Go has no way to unload a plugin: the library's code, data and
// goroutines stay in the process until it exits. A hot reload therefore
// loads the new version beside the old one; the Manager switches new tasks
// to it and closes the old instance, which only stops using it. The old
// library stays mapped and each reload grows the worker's memory by about
// the library's size (measured: about 13 MB of RSS per reload of a 32 MB
// library). Restart workers now and then when native plugins are
// reloaded often.
//
// Two builds can only be loaded side by side when they have different
// plugin paths, which needs both -ldflags=-pluginpath=X and
// -gcflags=PKG=-p=X with the same X (PKG is the plugin's import path); the
// path alone fails with "undefined symbol". "make plugins" derives X from
// the plugin's name, its manifest version and a hash of its sources, so
// each change gets a new path. A rebuild with an unchanged path is
// refused with ErrAlreadyLoaded until the worker restarts. Only the plugin's
// own package may differ between the two builds: if any other package it
// includes changed, the new build does not match the worker (condition 6).
//
// Go's plugin package caches libraries by file path, so a library
// rebuilt in place would be served from the old mapping. Start therefore
// copies each library into Options.CacheDir under a name made of its
// SHA-256 and loads that copy: the same bytes load once, new bytes load as
// a new library.
package native
