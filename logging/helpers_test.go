package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// Hex forms of testTraceID and testSpanID.
const (
	testTraceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpanHex  = "00f067aa0ba902b7"
)

// testTraceID returns the fixed trace id used by the tests.
func testTraceID() trace.TraceID {
	return trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
}

// testSpanID returns the fixed span id used by the tests.
func testSpanID() trace.SpanID {
	return trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
}

// traceContext returns a context carrying a valid, sampled span context with
// the fixed test ids.
func traceContext(t testing.TB) context.Context {
	t.Helper()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    testTraceID(),
		SpanID:     testSpanID(),
		TraceFlags: trace.FlagsSampled,
	})
	if !sc.IsValid() {
		t.Fatal("test span context is not valid")
	}
	return trace.ContextWithSpanContext(t.Context(), sc)
}

// taskTraceContext returns a context carrying the test span context and a
// complete set of task fields.
func taskTraceContext(t testing.TB) context.Context {
	t.Helper()
	return WithTask(traceContext(t), TaskFields{ID: "t-1", Type: "email:send", Queue: "critical", Retry: 2})
}

// dropTime removes the time attribute so that output is deterministic.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// newJSON returns a JSON handler without time writing to buf.
func newJSON(buf *bytes.Buffer) slog.Handler {
	return slog.NewJSONHandler(buf, &slog.HandlerOptions{ReplaceAttr: dropTime})
}

// parseLines decodes every JSON line in b.
func parseLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// traceContextInvalid returns a context holding a span context with a zero
// span ID, which is not valid.
func traceContextInvalid() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID()})
	return trace.ContextWithSpanContext(context.Background(), sc)
}
