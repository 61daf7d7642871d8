package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// Runtime starts plugin instances of one kind ("process", "exec",
// "native"). A Runtime is stateless or safe for concurrent use: the
// Manager may start several instances at once (old and new versions of a
// plugin side by side during a hot reload).
type Runtime interface {
	// Start makes the plugin described by spec ready to process tasks. It
	// returns an error that says what is wrong when the plugin cannot be
	// used; the Manager records it and keeps any older version serving.
	Start(ctx context.Context, spec Spec) (Instance, error)
}

// Instance is one loaded version of a plugin.
type Instance interface {
	// Process runs one task and returns its result (written as the task's
	// result; nil for none). An error fails the attempt: it follows the
	// retry path unless it wraps asynq.SkipRetry. ctx carries the task's
	// deadline, already shortened to the plugin's timeout, and the task's
	// trace and log fields. Process is called concurrently, at most
	// Limits.MaxConcurrency times at once per instance.
	Process(ctx context.Context, t *asynq.Task, meta Meta) (result []byte, err error)
	// Close drains the instance: it waits for the tasks in flight (until
	// ctx ends) and then stops everything the instance started. Process is
	// not called after Close.
	Close(ctx context.Context) error
}

// Runtimes maps runtime names, as written in a manifest's runtime field, to
// runtimes. The Manager knows only the runtimes it is given: there is no
// global registry.
type Runtimes map[string]Runtime

// Runtime names of the runtimes tuskq ships.
const (
	RuntimeProcess = "process" // plugins/resident: a resident child speaking JSON lines
	RuntimeExec    = "exec"    // plugins/oneshot: a one-shot process per task
	RuntimeNative  = "native"  // plugins/native: Go -buildmode=plugin
	RuntimeWasm    = "wasm"    // plugins/wasm: a sandboxed WebAssembly (WASI) module
)

// Spec is what a Runtime needs to start a plugin.
type Spec struct {
	// Manifest is the parsed, validated manifest.
	Manifest *Manifest
	// Dir is the absolute path of the plugin's directory; plugin processes
	// run in it.
	Dir string
	// Entry is the absolute path of the manifest's entry file with its
	// symbolic links resolved, already checked to exist and to pass the
	// security checks. Run it only after CheckEntry, or read it through
	// OpenEntry, so that what runs is what was checked.
	Entry string
	// entryID is Entry's identity when it was checked (zero in a Spec not
	// made by a Manager: nothing to compare).
	entryID fileID
	// Env is the complete environment for plugin processes, as KEY=VALUE:
	// a fixed PATH, TUSKQ_PLUGIN_NAME, TUSKQ_PLUGIN_VERSION, TUSKQ_PLUGIN_DIR
	// and the worker variables the manifest's env list names. Runtimes add
	// per-task variables but never the worker's own environment.
	Env []string
	// Logger receives the plugin's lines; it carries plugin and version
	// attributes. Log through it with the task's context so records carry
	// the task's trace_id.
	Logger *slog.Logger
	// LogLimit bounds the plugin's output lines (stderr) in the log; ask
	// it before logging each one. Shared by every version of the plugin.
	// Nil allows every line.
	LogLimit *LogLimiter
}

// Meta is what a plugin learns about a task besides its type and payload.
type Meta struct {
	// TaskID is the asynq task ID.
	TaskID string
	// Queue is the queue the task was fetched from.
	Queue string
	// Retry is the number of retries so far (0 on the first attempt);
	// MaxRetry is the task's retry budget.
	Retry, MaxRetry int
	// Deadline is when the attempt must end (zero when it has none).
	Deadline time.Time
	// Headers are the task's headers, including traceparent.
	Headers map[string]string
	// Traceparent is the W3C traceparent of the task ("" when none).
	Traceparent string
	// Config is the plugin's configuration: the manifest's config defaults
	// overlaid with the fleet-wide overrides (State.Config), key by key.
	// Runtimes must not modify it.
	Config map[string]any
}

// Status values of LoadedPlugin.Status.
const (
	StatusLoaded   = "loaded"   // serving its task types
	StatusFailed   = "failed"   // no version could be loaded; Error says why
	StatusDisabled = "disabled" // loaded, but disabled fleet-wide: tasks wait
)

// LoadedPlugin is what a worker reports about one plugin.
type LoadedPlugin struct {
	// Name is the plugin's name (from its manifest, or its directory name
	// when the manifest could not be read).
	Name string `json:"name"`
	// Version is the version serving tasks, or the version that failed to
	// load when none serves.
	Version string `json:"version"`
	// Runtime is the manifest's runtime.
	Runtime string `json:"runtime"`
	// Status is StatusLoaded, StatusFailed or StatusDisabled.
	Status string `json:"status"`
	// Error is the last load error: with StatusFailed why nothing serves,
	// otherwise why a newer version was not switched to ("" when none).
	Error string `json:"error,omitempty"`
	// TaskTypes are the task types the plugin serves, sorted.
	TaskTypes []string `json:"task_types"`
	// LoadedAt is when the serving version was loaded (zero when none).
	LoadedAt time.Time `json:"loaded_at"`
}

// State is the fleet-wide plugin state (plugins/fleetstate implements it
// over Redis). A nil State means every plugin is enabled with its
// manifest's configuration.
type State interface {
	// Enabled reports whether the plugin may process tasks. It is called
	// on every task and must be cheap (an in-memory read).
	Enabled(plugin string) bool
	// Config returns the configuration overrides of the plugin (nil when
	// none). The Manager overlays them on the manifest's defaults; the
	// returned map must not be modified afterwards.
	Config(plugin string) map[string]any
	// Subscribe returns a channel that receives a value after each change
	// of enabled flags or configuration. The Manager calls it once.
	Subscribe() <-chan struct{}
	// Report records what this worker has loaded. The Manager calls it
	// after every change and every Options.ReportInterval.
	Report(ctx context.Context, loaded []LoadedPlugin) error
}

var (
	// ErrDisabled is wrapped by the error of a task whose plugin is
	// disabled fleet-wide. Such an attempt is not a failure (see IsFailure)
	// and is retried after DisabledRetryDelay (see RetryDelay).
	ErrDisabled = errors.New("plugin disabled")
	// ErrSchema is wrapped (with asynq.SkipRetry) by the error of a task
	// whose payload does not match its type's JSON Schema.
	ErrSchema = errors.New("payload does not match the task type's schema")
	// ErrNotLoaded is wrapped by the error of a task whose plugin failed to
	// load. The task follows the normal retry path.
	ErrNotLoaded = errors.New("plugin not loaded")
	// ErrManifest is wrapped by manifest errors.
	ErrManifest = errors.New("invalid plugin manifest")
	// ErrInsecure is wrapped by the error of a plugin file or directory
	// that others could modify.
	ErrInsecure = errors.New("insecure plugin path")
	// ErrWorkerEnv is wrapped by the load error of a plugin whose manifest
	// passes one of the worker's own TUSKQ_* variables through env without
	// the worker's plugins.allow_env listing it.
	ErrWorkerEnv = errors.New("worker variable not allowed in a plugin's environment")
	// ErrClaimed is wrapped by the error of a plugin declaring a task type
	// that a compiled-in processor or another plugin already handles.
	ErrClaimed = errors.New("task type already claimed")
	// ErrUnknownRuntime is wrapped when a manifest names a runtime the
	// Manager was not given.
	ErrUnknownRuntime = errors.New("unknown plugin runtime")
	// ErrCrashed is wrapped by runtimes' errors for a task whose plugin
	// process exited while holding it. The task is retried.
	ErrCrashed = errors.New("plugin process crashed")
	// ErrHung is wrapped by runtimes' errors for a task whose plugin
	// process did not answer before the deadline and was killed. The task
	// is retried.
	ErrHung = errors.New("plugin process did not answer in time")
	// ErrClosed is returned by Instance.Process after Close.
	ErrClosed = errors.New("plugin instance closed")
	// ErrProtocol is wrapped by runtimes' errors for a plugin that broke
	// its runtime's protocol (a malformed line, a wrong id).
	ErrProtocol = errors.New("plugin protocol violation")
)

// TaskError is an error a plugin itself reported for a task, as opposed to
// a failure of its runtime (a crash, a hang, a protocol violation).
type TaskError struct {
	// Message is the plugin's error text.
	Message string
}

// NewTaskError returns a *TaskError with message msg.
func NewTaskError(msg string) error { return &TaskError{Message: msg} }

// Error returns the plugin's message.
func (e *TaskError) Error() string { return e.Message }

// DisabledRetryDelay is how long a task of a disabled plugin waits before
// it is tried again when RetryDelay is given no other value.
const DisabledRetryDelay = 5 * time.Second

// IsFailure is the predicate for asynq.Config.IsFailure: an attempt that
// met a disabled plugin is not a failure, so asynq retries the task without
// using up one of its retries. Every other error is a failure.
func IsFailure(err error) bool {
	return err != nil && !errors.Is(err, ErrDisabled)
}

// RetryDelay wraps next (asynq.DefaultRetryDelayFunc when nil) so that a
// task of a disabled plugin is tried again after wait (DisabledRetryDelay
// when 0) instead of after the backoff.
func RetryDelay(next asynq.RetryDelayFunc, wait time.Duration) asynq.RetryDelayFunc {
	if next == nil {
		next = asynq.DefaultRetryDelayFunc
	}
	if wait <= 0 {
		wait = DisabledRetryDelay
	}
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, ErrDisabled) {
			return wait
		}
		return next(n, err, t)
	}
}

// ErrEntryChanged is wrapped by CheckEntry's and OpenEntry's errors: the
// entry file is no longer the file the Manager checked. The task is
// retried; the Manager checks and loads the new file when it sees the
// change.
var ErrEntryChanged = errors.New("plugin entry changed after it was checked")

// CheckEntry reports whether Entry is still the file the Manager checked
// (same device, inode, size, modification and change times, mode and
// owner). Runtimes call it right before each process starts.
func (s Spec) CheckEntry() error {
	if s.entryID == (fileID{}) {
		return nil
	}
	fi, err := os.Lstat(s.Entry)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEntryChanged, err)
	}
	return s.sameEntry(fi)
}

func (s Spec) sameEntry(fi fs.FileInfo) error {
	if idOf(fi) != s.entryID {
		return fmt.Errorf("%w: %s was replaced or modified since the worker checked it; the worker checks and loads the new file, and the task is retried",
			ErrEntryChanged, s.Entry)
	}
	return nil
}

// OpenEntry opens Entry for reading, without following a symbolic link,
// and checks that the file opened is the file the Manager checked.
func (s Spec) OpenEntry() (*os.File, error) {
	f, err := os.OpenFile(s.Entry, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntryChanged, err)
	}
	if s.entryID == (fileID{}) {
		return f, nil
	}
	fi, err := f.Stat()
	if err == nil {
		err = s.sameEntry(fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
