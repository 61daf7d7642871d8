package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestNewFormats(t *testing.T) {
	t.Parallel()

	tests := []struct {
		format string
		want   string
	}{
		{format: "", want: `{"level":"INFO","msg":"hello","k":"v","task_id":"t-1","retry":1}` + "\n"},
		{format: "json", want: `{"level":"INFO","msg":"hello","k":"v","task_id":"t-1","retry":1}` + "\n"},
		{format: "JSON", want: `{"level":"INFO","msg":"hello","k":"v","task_id":"t-1","retry":1}` + "\n"},
		{format: "text", want: "level=INFO msg=hello k=v task_id=t-1 retry=1\n"},
		{format: "Text", want: "level=INFO msg=hello k=v task_id=t-1 retry=1\n"},
	}
	for _, tt := range tests {
		t.Run("Format="+tt.format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := New(&buf, Options{Format: tt.format, ReplaceAttr: dropTime})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			l.InfoContext(WithTask(t.Context(), TaskFields{ID: "t-1", Retry: 1}), "hello", "k", "v")
			if got := buf.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewLevelAndSource(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	l, err := New(&buf, Options{Level: lv, AddSource: true, ReplaceAttr: dropTime})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l.Info("dropped")
	l.Warn("kept")
	lv.Set(slog.LevelDebug)
	l.Debug("kept too")

	lines := parseLines(t, buf.Bytes())
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %s", len(lines), buf.String())
	}
	for i, want := range []string{"kept", "kept too"} {
		if got := lines[i][slog.MessageKey]; got != want {
			t.Errorf("line %d msg = %v, want %q", i, got, want)
		}
		src, ok := lines[i][slog.SourceKey].(map[string]any)
		if !ok {
			t.Fatalf("line %d has no source object: %v", i, lines[i])
		}
		if file, _ := src["file"].(string); !strings.HasSuffix(file, "/logging/logging_test.go") {
			t.Errorf("line %d source file = %q, want .../logging/logging_test.go", i, file)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()

	_, err := New(&bytes.Buffer{}, Options{Format: "xml"})
	if got, want := errString(err), `logging: format "xml" is not valid; expected json or text`; got != want {
		t.Errorf("New(xml) error = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrInvalidFormat) {
		t.Errorf("errors.Is(%v, ErrInvalidFormat) = false, want true", err)
	}

	_, err = New(nil, Options{})
	if !errors.Is(err, ErrNilWriter) {
		t.Errorf("New(nil) error = %v, want ErrNilWriter", err)
	}
	if got, want := errString(err), "logging: writer is nil"; got != want {
		t.Errorf("New(nil) error = %q, want %q", got, want)
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in      string
		want    slog.Level
		wantErr string
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "info", want: slog.LevelInfo},
		{in: "warn", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "DEBUG", want: slog.LevelDebug},
		{in: "Warn", want: slog.LevelWarn},
		{in: "warning", wantErr: `logging: level "warning" is not valid; expected debug, info, warn or error`},
		{in: "", wantErr: `logging: level "" is not valid; expected debug, info, warn or error`},
		{in: " info", wantErr: `logging: level " info" is not valid; expected debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLevel(tt.in)
			if tt.wantErr != "" {
				if errString(err) != tt.wantErr {
					t.Fatalf("ParseLevel(%q) error = %q, want %q", tt.in, errString(err), tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidLevel) {
					t.Errorf("errors.Is(%v, ErrInvalidLevel) = false, want true", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLevel(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// errString returns err's text, or "<nil>".
func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
