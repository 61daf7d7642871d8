// Package wasm is the plugin runtime "wasm": WebAssembly modules (WASI
// preview 1 reactors) run inside the worker process by wazero, a pure-Go
// runtime, in a sandbox.
//
// A module implements the ABI of docs/plugins.md ("The wasm ABI"): it
// exports tuskq_abi_version, tuskq_alloc and tuskq_handle, and may import
// the host functions of module "tuskq" (log, progress, set_result,
// set_error, http_request, http_response) and WASI. Package
// plugins/wasm/guest implements it for Go guests.
//
// Each loaded version has its own wazero runtime, which caps every
// instance's linear memory at limits.memory (DefaultMemory by default),
// and a pool of instances: a task takes an idle instance or makes one, and
// gives it back when tuskq_handle returned a code. An instance that
// trapped, panicked, exited, ran out of memory, broke the protocol or was
// stopped at the task's time limit (the task context's cancellation closes
// the module) is discarded, never reused.
//
// The sandbox grants nothing the manifest does not: no file system (only
// sandbox.dirs, read-only), no real clock or randomness (sandbox.clock,
// sandbox.random), no environment but TUSKQ_PLUGIN_NAME,
// TUSKQ_PLUGIN_VERSION and the variables the manifest's env names (the
// worker's own TUSKQ_* variables only when plugins.allow_env lists them),
// no sockets, and outbound HTTP only through http_request when
// sandbox.http is granted, bound by Options.HTTP (the worker passes the
// allow-list and dial guard of http:request).
//
// Compiled code is cached on disk (Options.CacheDir) by wazero, keyed by
// the module's contents and wazero's version.
package wasm
