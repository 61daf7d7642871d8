package logging

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkHandler compares the context handler on top of a JSON handler
// with a bare JSON handler, with and without an open group:
//
//   - EmptyCtx: the context holds nothing, so both write the same line;
//   - TaskTraceCtx: the context holds a task and a span; the bare handler is
//     given the same six attributes explicitly at the call site, so both
//     write lines of the same content.
func BenchmarkHandler(b *testing.B) {
	taskCtx := taskTraceContext(b)
	explicit := []any{
		slog.String(KeyTraceID, testTraceHex), slog.String(KeySpanID, testSpanHex),
		slog.String(KeyTaskID, "t-1"), slog.String(KeyTaskType, "email:send"),
		slog.String(KeyQueue, "critical"), slog.Int(KeyRetry, 2),
	}
	derive := []struct {
		name string
		fn   func(*slog.Logger) *slog.Logger
	}{
		{name: "NoGroup", fn: func(l *slog.Logger) *slog.Logger { return l.With("component", "bench") }},
		{name: "Group", fn: func(l *slog.Logger) *slog.Logger { return l.With("component", "bench").WithGroup("g").With("a", 1) }},
	}
	for _, d := range derive {
		// A JSON handler writing to io.Discard, not slog.DiscardHandler: the
		// latter is disabled, so nothing would be formatted or measured.
		bare := d.fn(slog.New(slog.NewJSONHandler(io.Discard, nil)))                       //nolint:sloglint // the encoding cost is what is measured
		wrapped := d.fn(slog.New(NewContextHandler(slog.NewJSONHandler(io.Discard, nil)))) //nolint:sloglint // the encoding cost is what is measured
		// In the Group case the explicit attributes end up inside the group;
		// only the cost is comparable there, not the shape.
		runs := []struct {
			name string
			log  func()
		}{
			{name: "EmptyCtx/BareJSON", log: func() { bare.InfoContext(b.Context(), "processed", "n", 42, "ok", true) }},
			{name: "EmptyCtx/ContextJSON", log: func() { wrapped.InfoContext(b.Context(), "processed", "n", 42, "ok", true) }},
			{name: "TaskTraceCtx/BareJSONExplicitAttrs", log: func() {
				bare.InfoContext(b.Context(), "processed", append([]any{"n", 42, "ok", true}, explicit...)...)
			}},
			{name: "TaskTraceCtx/ContextJSON", log: func() { wrapped.InfoContext(taskCtx, "processed", "n", 42, "ok", true) }},
		}
		for _, r := range runs {
			b.Run(d.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r.log()
				}
			})
		}
	}
}
