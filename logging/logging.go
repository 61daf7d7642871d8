package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Formats accepted in [Options.Format].
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Errors returned by [New] and [ParseLevel]. The returned errors carry a
// message that names the bad value; test for the kind with [errors.Is].
var (
	// ErrInvalidFormat means Options.Format is neither json nor text.
	ErrInvalidFormat = errors.New("logging: invalid format")
	// ErrInvalidLevel means a level name is not debug, info, warn or error.
	ErrInvalidLevel = errors.New("logging: invalid level")
	// ErrNilWriter means New was given a nil io.Writer.
	ErrNilWriter = errors.New("logging: writer is nil")
)

// Options configures [New]. The zero value logs JSON at info level.
type Options struct {
	// Level is the minimum level logged. Nil means slog.LevelInfo. Pass a
	// *slog.LevelVar to change the level at run time.
	Level slog.Leveler
	// Format is "json" (the default when empty) or "text", case-insensitive.
	Format string
	// AddSource adds the source file and line of the log call to each record.
	AddSource bool
	// ReplaceAttr, when set, rewrites or drops attributes before they are
	// written; see slog.HandlerOptions.ReplaceAttr. The attributes added by
	// the context handler pass through it too, with groups == nil.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
}

// New returns a logger writing to w in the configured format. Its handler is
// wrapped by [NewContextHandler], so records logged with a context carry the
// task and trace attributes found in it. An unknown Options.Format is an
// error wrapping [ErrInvalidFormat].
func New(w io.Writer, opts Options) (*slog.Logger, error) {
	if w == nil {
		return nil, ErrNilWriter
	}
	hopts := &slog.HandlerOptions{
		Level:       opts.Level,
		AddSource:   opts.AddSource,
		ReplaceAttr: opts.ReplaceAttr,
	}
	var h slog.Handler
	switch strings.ToLower(opts.Format) {
	case "", FormatJSON:
		h = slog.NewJSONHandler(w, hopts)
	case FormatText:
		h = slog.NewTextHandler(w, hopts)
	default:
		return nil, &valueError{
			msg:  fmt.Sprintf("logging: format %q is not valid; expected json or text", opts.Format),
			kind: ErrInvalidFormat,
		}
	}
	return slog.New(NewContextHandler(h)), nil
}

// ParseLevel returns the level named by s: debug, info, warn or error,
// case-insensitive. Any other value is an error wrapping [ErrInvalidLevel]
// that names the value and the choices.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &valueError{
		msg:  fmt.Sprintf("logging: level %q is not valid; expected debug, info, warn or error", s),
		kind: ErrInvalidLevel,
	}
}

// valueError is an error with an exact message that matches a sentinel
// through errors.Is.
type valueError struct {
	msg  string
	kind error
}

func (e *valueError) Error() string { return e.msg }

func (e *valueError) Unwrap() error { return e.kind }
