// Package sdk is what a native tuskq plugin imports: the Plugin interface
// its exported symbol implements and the helpers that give a task its
// plugin configuration, logger and result.
//
// A native plugin is a Go package main built with -buildmode=plugin that
// exports a variable named Plugin:
//
//	package main
//
//	type hello struct{}
//
//	func (hello) Name() string        { return "hello" }
//	func (hello) Version() string     { return "1.0.0" }
//	func (hello) Description() string { return "greets" }
//	func (hello) Validate(cfg map[string]any) error { return nil }
//	func (hello) ProcessTask(ctx context.Context, t *asynq.Task) error {
//		sdk.SetResult(ctx, []byte("hello"))
//		return nil
//	}
//
//	// Plugin is the symbol the worker looks up.
//	var Plugin sdk.Plugin = hello{}
//
// The package is deliberately small (it imports only the standard library
// and asynq): every package a plugin shares with the worker must be
// byte-for-byte the same build in both, so a plugin that imports less
// breaks less often. See docs/plugins.md and package plugins/native.
package sdk

import (
	"context"
	"log/slog"
	"sync"

	"github.com/hibiken/asynq"
)

// SymbolName is the name of the variable a native plugin exports.
const SymbolName = "Plugin"

// Plugin is implemented by the value a native plugin exports as Plugin.
type Plugin interface {
	// Name must equal the manifest's name.
	Name() string
	// Version must equal the manifest's version.
	Version() string
	// Description is one line for humans.
	Description() string
	// Validate checks the plugin's configuration (the manifest's defaults
	// with the fleet-wide overrides laid over them). It is called when the
	// plugin is loaded; an error refuses the load and is reported.
	Validate(config map[string]any) error
	// ProcessTask processes one task, like a tasks.Processor: nil marks it
	// done, an error fails the attempt (wrap asynq.SkipRetry to archive at
	// once). It is called concurrently.
	ProcessTask(ctx context.Context, t *asynq.Task) error
}

type ctxKey struct{}

// taskContext is what the worker puts into a task's context.
type taskContext struct {
	config map[string]any
	logger *slog.Logger

	mu     sync.Mutex
	result []byte
}

// NewContext returns a context for one call of ProcessTask carrying the
// plugin's configuration and logger. The worker's native runtime calls it;
// tests of a plugin can too. The returned function reports what the plugin
// passed to SetResult.
func NewContext(ctx context.Context, config map[string]any, logger *slog.Logger) (context.Context, func() []byte) {
	tc := &taskContext{config: config, logger: logger}
	return context.WithValue(ctx, ctxKey{}, tc), func() []byte {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.result
	}
}

func from(ctx context.Context) *taskContext {
	tc, _ := ctx.Value(ctxKey{}).(*taskContext)
	return tc
}

// Config returns the plugin's configuration: the manifest's defaults with
// the fleet-wide overrides laid over them, key by key. Do not modify it.
// It is nil outside a task.
func Config(ctx context.Context) map[string]any {
	if tc := from(ctx); tc != nil {
		return tc.config
	}
	return nil
}

// Logger returns the plugin's logger (it carries the plugin's name and
// version). Log with the task's context, as in
// sdk.Logger(ctx).InfoContext(ctx, …), so that the record carries the
// task's trace_id. It never returns nil.
func Logger(ctx context.Context) *slog.Logger {
	if tc := from(ctx); tc != nil && tc.logger != nil {
		return tc.logger
	}
	return slog.New(slog.DiscardHandler)
}

// SetResult sets the task's result (written to Redis as the task's result
// when ProcessTask returns nil); the last call wins. It reports false
// outside a task.
func SetResult(ctx context.Context, result []byte) bool {
	tc := from(ctx)
	if tc == nil {
		return false
	}
	tc.mu.Lock()
	tc.result = append([]byte(nil), result...)
	tc.mu.Unlock()
	return true
}
