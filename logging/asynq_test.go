package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// The adapter satisfies asynq's Logger interface.
var _ asynq.Logger = (*AsynqLogger)(nil)

func TestAsynqLogger(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := slog.New(NewContextHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: dropTime,
	})))
	a := NewAsynqLogger(l)
	a.Debug("debug ", 1)
	a.Info("info")
	a.Warn("warn", "ing")
	a.Error("error: ", errTest("boom"))
	a.Fatal("fatal ", 2)

	want := strings.Join([]string{
		`{"level":"DEBUG","msg":"debug 1","component":"asynq"}`,
		`{"level":"INFO","msg":"info","component":"asynq"}`,
		`{"level":"WARN","msg":"warning","component":"asynq"}`,
		`{"level":"ERROR","msg":"error: boom","component":"asynq"}`,
		`{"level":"ERROR","msg":"fatal 2","component":"asynq","fatal":true}`,
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestAsynqLoggerLevel(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	a := NewAsynqLogger(l)
	a.Debug("no")
	a.Info("no")
	a.Warn("yes")

	if got, want := buf.String(), `{"level":"WARN","msg":"yes","component":"asynq"}`+"\n"; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestAsynqLoggerSource(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{AddSource: true}))
	NewAsynqLogger(l).Info("m")

	m := parseLines(t, buf.Bytes())[0]
	src, _ := m[slog.SourceKey].(map[string]any)
	if file, _ := src["file"].(string); !strings.HasSuffix(file, "/logging/asynq_test.go") {
		t.Errorf("source file = %q, want the caller .../logging/asynq_test.go", file)
	}
	if fn, _ := src["function"].(string); fn != "github.com/tuskq/tuskq/logging.TestAsynqLoggerSource" {
		t.Errorf("source function = %q, want the caller", fn)
	}
}

func TestAsynqLoggerNil(t *testing.T) {
	t.Parallel()

	a := NewAsynqLogger(nil)
	a.Info("discarded") // must not panic
	a.Fatal("discarded")
}

// The servers of one worker share a group adapter: each lifecycle line is
// written once, when the last server writes it, with servers=N; other
// lines pass as they are.
func TestAsynqGroupLoggerCollapsesLifecycleLines(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	a := NewAsynqGroupLogger(l, 3)
	for range 3 {
		a.Info("Starting processing")
		a.Warn("Retry exhausted for task id=x")
	}
	for range 3 {
		a.Info("Exiting")
	}
	want := strings.Join([]string{
		`{"level":"WARN","msg":"Retry exhausted for task id=x","component":"asynq"}`,
		`{"level":"WARN","msg":"Retry exhausted for task id=x","component":"asynq"}`,
		`{"level":"INFO","msg":"Starting processing","component":"asynq","servers":3}`,
		`{"level":"WARN","msg":"Retry exhausted for task id=x","component":"asynq"}`,
		`{"level":"INFO","msg":"Exiting","component":"asynq","servers":3}`,
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
