package logging

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
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
	// servers is how many asynq servers share the adapter (see
	// NewAsynqGroupLogger); 0 or 1 writes every line.
	servers int
	mu      sync.Mutex
	seen    map[string]int // lifecycle message → times written by a server
}

// asynqLifecycle are the lines every asynq server writes once as it starts,
// stops and shuts down; a group of servers writes them once for all.
var asynqLifecycle = map[string]bool{
	"Starting processing":                  true,
	"Starting graceful shutdown":           true,
	"Exiting":                              true,
	"Stopping processor":                   true,
	"Processor stopped":                    true,
	"Waiting for all workers to finish...": true,
	"All workers have finished":            true,
}

// KeyServers is the attribute giving, on asynq's lifecycle lines written
// through NewAsynqGroupLogger, how many asynq servers they stand for.
const KeyServers = "servers"

// NewAsynqGroupLogger returns an adapter shared by the servers asynq
// servers of one worker process. asynq's lifecycle lines ("Starting
// processing", "Starting graceful shutdown", "Exiting", …), which each
// server writes, are written once per round, when the last of the servers
// writes it, with servers=N; every other line is written as
// NewAsynqLogger writes it.
func NewAsynqGroupLogger(l *slog.Logger, servers int) *AsynqLogger {
	a := NewAsynqLogger(l)
	if servers > 1 {
		a.servers = servers
		a.seen = map[string]int{}
	}
	return a
}

// collapse reports whether msg is to be written and the servers attribute
// to add (0: none).
func (a *AsynqLogger) collapse(msg string) (write bool, servers int) {
	if a.servers <= 1 || !asynqLifecycle[msg] {
		return true, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[msg]++
	if a.seen[msg]%a.servers != 0 {
		return false, 0
	}
	return true, a.servers
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
	msg := fmt.Sprint(args...)
	write, servers := a.collapse(msg)
	if !write {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // skip runtime.Callers, log and the exported method
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	if servers > 0 {
		r.AddAttrs(slog.Int(KeyServers, servers))
	}
	if fatal {
		r.AddAttrs(slog.Bool("fatal", true))
	}
	// asynq's Logger interface has no way to report a failed write.
	_ = a.h.Handle(ctx, r)
}
