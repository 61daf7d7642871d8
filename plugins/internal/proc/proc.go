// Package proc holds what the process and exec runtimes share: process
// groups, and turning a plugin's stderr into log records.
package proc

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

// MaxLogLine bounds one logged stderr line; longer lines are cut.
const MaxLogLine = 16 << 10

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
// that moment (the task's, so records carry its trace_id). Lines are also
// kept in tail when it is not nil. It returns at EOF or a read error.
func LogLines(r io.Reader, logger *slog.Logger, ctx func() context.Context, tail *Tail, attrs ...slog.Attr) {
	br := bufio.NewReaderSize(r, 4096)
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
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
			logger.LogAttrs(ctx(), slog.LevelInfo, "plugin log", append(attrs[:len(attrs):len(attrs)], slog.String("line", line))...)
			buf = buf[:0]
		}
		if err != nil {
			return // io.EOF, or the pipe closed after the process died
		}
	}
}
