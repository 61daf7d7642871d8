// Package logging builds the [log/slog] loggers used by every tuskq binary
// and library package.
//
// # Building a logger
//
// [New] returns a JSON (default) or text logger whose handler is wrapped by
// [NewContextHandler]. [ParseLevel] turns the configured level name (debug,
// info, warn, error) into a [slog.Level].
//
// # Task and trace attributes
//
// Every record logged with a context (slog.InfoContext and friends) carries,
// at the top level of the record, whichever of these the context holds:
//
//	trace_id, span_id                 from the OpenTelemetry span context
//	task_id, task_type, queue, retry  from [WithTask]
//
// They stay at the top level even when the logger was derived with
// [slog.Logger.WithGroup], so log pipelines can always query trace_id.
// Callers should not log these keys themselves; the handler adds them.
//
// # asynq
//
// [AsynqLogger] adapts a *slog.Logger to asynq's Logger interface. asynq
// filters its own messages by asynq.Config.LogLevel before calling the
// adapter, so the worker sets that field from the same configured level it
// passes to [New].
//
// # Payloads
//
// Payloads often hold personal data or secrets. This package never logs them
// on its own; callers use [PayloadAttr] so that a payload is logged the same
// way everywhere and only when configuration enables it.
package logging
