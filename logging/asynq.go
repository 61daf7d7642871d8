package logging

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// KeyComponent is the attribute naming the component that logged a record;
// [AsynqLogger] sets it to "asynq".
const KeyComponent = "component"

// AsynqLogger writes asynq's log messages to a *slog.Logger. It has the
// method set of asynq's Logger interface, so it can be set as
// asynq.Config.Logger, without this package importing asynq.
//
// asynq drops messages below asynq.Config.LogLevel before they reach the
// adapter; the worker sets that field from the same configured level as the
// slog logger, and the slog logger's level still applies afterwards.
//
// An AsynqLogger is safe for concurrent use.
type AsynqLogger struct {
	h slog.Handler
}

// NewAsynqLogger returns an adapter logging through l. Every record carries
// component=asynq. A nil l discards every message.
func NewAsynqLogger(l *slog.Logger) *AsynqLogger {
	h := slog.DiscardHandler
	if l != nil {
		h = l.Handler()
	}
	return &AsynqLogger{h: h.WithAttrs([]slog.Attr{slog.String(KeyComponent, "asynq")})}
}

// Debug logs fmt.Sprint(args...) at debug level.
func (a *AsynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args, false) }

// Info logs fmt.Sprint(args...) at info level.
func (a *AsynqLogger) Info(args ...any) { a.log(slog.LevelInfo, args, false) }

// Warn logs fmt.Sprint(args...) at warn level.
func (a *AsynqLogger) Warn(args ...any) { a.log(slog.LevelWarn, args, false) }

// Error logs fmt.Sprint(args...) at error level.
func (a *AsynqLogger) Error(args ...any) { a.log(slog.LevelError, args, false) }

// Fatal logs fmt.Sprint(args...) at error level with fatal=true. It does not
// exit: asynq exits the process itself after calling Fatal.
func (a *AsynqLogger) Fatal(args ...any) { a.log(slog.LevelError, args, true) }

// log builds the record with the caller of the exported method as its
// source, so that AddSource points into asynq rather than into this file.
func (a *AsynqLogger) log(level slog.Level, args []any, fatal bool) {
	ctx := context.Background()
	if !a.h.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // skip runtime.Callers, log and the exported method
	r := slog.NewRecord(time.Now(), level, fmt.Sprint(args...), pcs[0])
	if fatal {
		r.AddAttrs(slog.Bool("fatal", true))
	}
	// asynq's Logger interface has no way to report a failed write.
	_ = a.h.Handle(ctx, r)
}
