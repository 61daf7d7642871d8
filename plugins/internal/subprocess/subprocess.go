// Package subprocess holds what the process and exec runtimes share: process
// groups, and turning a plugin's stderr into log records.
package subprocess

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
)

// KillGroup sends SIGKILL to the process group led by pid, so that the
// plugin and anything it started die together.
func KillGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // the group may be gone already
	}
}

// MaxLogLine bounds one logged stderr line; longer lines are cut, and
// their record says so (truncated=true, line_bytes=the full length).
const MaxLogLine = 4 << 10

// Limiter decides whether a line is logged (*plugins.LogLimiter, whose
// nil value allows every line). A nil Limiter logs every line.
type Limiter interface {
	// Allow reports whether the line may be logged now.
	Allow(ctx context.Context) bool
	// Flush reports what was dropped; called when the stream ends.
	Flush(ctx context.Context)
}

// Tail keeps the last lines written to stderr, for error messages.
type Tail struct {
	mu    sync.Mutex
	lines []string
}

// tailLines is how many lines a Tail keeps.
const tailLines = 3

func (t *Tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// String returns the kept lines joined by " | ", or "" when none.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}

// LogLines logs each line read from r as a "plugin log" record at info
// level with attrs and a line attribute, with the context ctx returns at
// that moment (the task's, so records carry its trace_id), when limit
// allows it. Lines are also kept in tail when it is not nil, logged or
// not. It returns at EOF or a read error, after limit.Flush.
func LogLines(r io.Reader, logger *slog.Logger, ctx func() context.Context, tail *Tail, limit Limiter, attrs ...slog.Attr) {
	br := bufio.NewReaderSize(r, 4096)
	var buf []byte
	n := 0 // bytes of the line, kept or cut
	for {
		chunk, isPrefix, err := br.ReadLine()
		n += len(chunk)
		if len(chunk) > 0 && len(buf) < MaxLogLine {
			buf = append(buf, chunk[:min(len(chunk), MaxLogLine-len(buf))]...)
		}
		if err == nil && isPrefix {
			continue
		}
		if err == nil || len(buf) > 0 {
			line := strings.TrimRight(string(buf), "\r")
			if tail != nil {
				tail.add(line)
			}
			if c := ctx(); limit == nil || limit.Allow(c) {
				as := make([]slog.Attr, 0, len(attrs)+3)
				as = append(as, attrs...)
				as = append(as, slog.String("line", line))
				if n > len(buf) {
					as = append(as, slog.Bool("truncated", true), slog.Int("line_bytes", n))
				}
				logger.LogAttrs(c, slog.LevelInfo, "plugin log", as...)
			}
			buf, n = buf[:0], 0
		}
		if err != nil {
			if limit != nil {
				limit.Flush(ctx())
			}
			return // io.EOF, or the pipe closed after the process died
		}
	}
}
