// Package plugins loads task processors at run time from a directory, one
// subdirectory per plugin, and serves their task types to a worker as a
// tasks.Resolver. Plugins are reloaded when their files change and can be
// disabled and configured fleet-wide. docs/plugins.md is the user guide;
// this comment is the contract between the pieces.
//
// # Manifest
//
// Each plugin directory holds a plugin.yaml (see Manifest and
// ParseManifest): name, version, description, runtime, entry, args,
// task_types (each with optional queue, max_retry, timeout and a JSON
// Schema of its payload), config defaults, limits (timeout,
// max_concurrency) and env (worker variables passed to the plugin).
// Parsing is strict: unknown fields, wrong types and invalid schemas are
// reported all at once, each naming the file, line and field.
//
// # Runtimes
//
// A Runtime starts an Instance of a plugin from a Spec. Runtimes are given
// to the Manager by name in a Runtimes map (no global registry):
//
//	plugins.Runtimes{
//		plugins.RuntimeProcess: resident.New(resident.Options{}), // plugins/resident
//		plugins.RuntimeExec:    oneshot.New(oneshot.Options{}),   // plugins/oneshot
//		plugins.RuntimeNative:  native.New(…),                  // plugins/native
//	}
//
// The packages are named for what each runtime is: plugins/resident keeps
// a long-lived child process per plugin version and speaks JSON lines with
// it; plugins/oneshot starts a new process for every task. The manifest's
// runtime names stay "process" and "exec", as deployed manifests use them.
//
// Instance.Process runs one task and returns its result bytes (written as
// the asynq task result) or an error (the retry path; wrap asynq.SkipRetry
// to archive at once). Its ctx carries the deadline, already shortened to
// the task type's timeout or the plugin's limits.timeout, and the task's
// trace and log fields: runtimes log plugin output through Spec.Logger with
// that ctx so records carry trace_id. Instance.Close drains: it waits for
// the tasks in flight (until its ctx ends), then stops what it started.
//
// # Manager
//
// NewManager(Options) builds a Manager; Run(ctx) loads the directory,
// closes Ready, watches the directory (fsnotify, debounced) and reloads
// changed plugins until ctx ends, then drains and stops them. The Manager
// implements tasks.Resolver: install it with Registry.SetResolver.
//
// Hot reload: when a plugin's manifest or entry file changes, the new
// version is started beside the old one; on success the dispatch table is
// swapped atomically (new tasks go to the new version), the old version's
// tasks in flight finish on it, and then it is closed. When the new version
// fails to load, the old one keeps serving and the error is recorded
// (Loaded, and State.Report). Each task looks its type up when it starts,
// so no task is lost or run on a closed instance.
//
// Security: paths are resolved through their symbolic links before they
// are checked; a manifest or entry must resolve inside its plugin
// directory. Every directory from / down to each manifest and entry, and
// the files, must not be writable by group or others and must be owned by
// the worker's user or root (a sticky directory of root, such as /tmp, is
// allowed above plugins.dir); otherwise the plugin is refused with an
// error wrapping ErrInsecure. Runtimes run the entry only after
// Spec.CheckEntry has found it to be the file that was checked. Plugin
// processes get a minimal environment (Spec.Env), never the worker's; a
// manifest may pass the worker's own TUSKQ_* variables only when
// Options.AllowEnv lists them (ErrWorkerEnv). Plugin stderr lines are
// rate-limited per plugin (LogLimiter).
//
// # Fleet state
//
// Options.State (plugins/fleetstate implements it over Redis) says whether
// a plugin is enabled and what configuration overrides it has, notifies
// changes through Subscribe, and receives what the worker loaded through
// Report (after each change and every Options.ReportInterval). A nil State
// enables every plugin with its manifest's configuration.
//
// A task of a disabled plugin fails with an error wrapping ErrDisabled,
// which is not charged as a retry: the worker must set
// asynq.Config.IsFailure to IsFailure and wrap its retry delay with
// RetryDelay, so the task comes back every DisabledRetryDelay (without
// using up its retries) until the plugin is enabled again. asynq archives
// a task whose retries are already used up (for example MaxRetry 0) on any
// error, so such a task is archived rather than kept waiting.
package plugins
