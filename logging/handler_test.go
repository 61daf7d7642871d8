package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/slogtest"
	"time"
)

// wantContextAttrs returns the attributes taskTraceContext adds, as decoded
// JSON.
func wantContextAttrs() map[string]any {
	return map[string]any{
		KeyTraceID:  testTraceHex,
		KeySpanID:   testSpanHex,
		KeyTaskID:   "t-1",
		KeyTaskType: "email:send",
		KeyQueue:    "critical",
		KeyRetry:    float64(2),
	}
}

func TestContextHandlerSlogtest(t *testing.T) {
	t.Parallel()

	// Each case runs slogtest over the context handler on top of a JSON
	// handler. The "task" case feeds every record a context holding a task
	// and a span, so that the group-replay path is the one exercised; its
	// result function checks the context attributes are at the top level
	// and removes them before slogtest compares the rest.
	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want map[string]any
	}{
		{name: "NoContext", ctx: func(*testing.T) context.Context { return t.Context() }, want: map[string]any{}},
		{name: "TaskAndTrace", ctx: func(t *testing.T) context.Context { return taskTraceContext(t) }, want: wantContextAttrs()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			ctx := tt.ctx(t)
			newHandler := func(*testing.T) slog.Handler {
				buf.Reset()
				return withContext{ctx: ctx, next: NewContextHandler(slog.NewJSONHandler(&buf, nil))}
			}
			result := func(t *testing.T) map[string]any {
				var m map[string]any
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
					t.Fatalf("output %q is not JSON: %v", buf.String(), err)
				}
				for k, want := range tt.want {
					if got, ok := m[k]; !ok || got != want {
						t.Errorf("top-level %s = %v (present %t), want %v; output %s", k, got, ok, want, buf.String())
					}
					delete(m, k)
				}
				return m
			}
			slogtest.Run(t, newHandler, result)
		})
	}
}

// withContext is a test handler that hands every record to next with ctx,
// whatever context the logger was given.
type withContext struct {
	ctx  context.Context
	next slog.Handler
}

func (w withContext) Enabled(_ context.Context, l slog.Level) bool {
	return w.next.Enabled(w.ctx, l)
}

func (w withContext) Handle(_ context.Context, r slog.Record) error {
	return w.next.Handle(w.ctx, r)
}

func (w withContext) WithAttrs(as []slog.Attr) slog.Handler {
	return withContext{ctx: w.ctx, next: w.next.WithAttrs(as)}
}

func (w withContext) WithGroup(name string) slog.Handler {
	return withContext{ctx: w.ctx, next: w.next.WithGroup(name)}
}

func TestContextHandlerTopLevel(t *testing.T) {
	t.Parallel()

	// Each derivation is applied to a bare JSON handler and to the context
	// handler. Without context attributes the outputs must be identical;
	// with them, the context handler's output must be the bare output plus
	// exactly the context attributes at the top level.
	derive := []struct {
		name string
		fn   func(*slog.Logger) *slog.Logger
		want string
	}{
		{
			name: "Plain",
			fn:   func(l *slog.Logger) *slog.Logger { return l },
			want: `{"level":"INFO","msg":"m","k":1}`,
		},
		{
			name: "WithAttrs",
			fn:   func(l *slog.Logger) *slog.Logger { return l.With("a", "x") },
			want: `{"level":"INFO","msg":"m","a":"x","k":1}`,
		},
		{
			name: "WithGroup",
			fn:   func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") },
			want: `{"level":"INFO","msg":"m","g":{"k":1}}`,
		},
		{
			name: "AttrsGroupAttrs",
			fn:   func(l *slog.Logger) *slog.Logger { return l.With("a", "x").WithGroup("g").With("b", "y") },
			want: `{"level":"INFO","msg":"m","a":"x","g":{"b":"y","k":1}}`,
		},
		{
			name: "NestedGroups",
			fn: func(l *slog.Logger) *slog.Logger {
				return l.WithGroup("g").With("b", "y").WithGroup("h").With(slog.Group("s", "c", "z"))
			},
			want: `{"level":"INFO","msg":"m","g":{"b":"y","h":{"s":{"c":"z"},"k":1}}}`,
		},
		{
			name: "EmptyInnerGroup",
			fn:   func(l *slog.Logger) *slog.Logger { return l.WithGroup("g").With("b", "y").WithGroup("h") },
			want: `{"level":"INFO","msg":"m","g":{"b":"y","h":{"k":1}}}`,
		},
	}
	for _, d := range derive {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			var bare, wrapped, noctx bytes.Buffer
			d.fn(slog.New(newJSON(&bare))).Info("m", "k", 1)
			d.fn(slog.New(NewContextHandler(newJSON(&noctx)))).InfoContext(t.Context(), "m", "k", 1)
			d.fn(slog.New(NewContextHandler(newJSON(&wrapped)))).InfoContext(taskTraceContext(t), "m", "k", 1)

			if got := bare.String(); got != d.want+"\n" {
				t.Fatalf("bare output = %s, want %s", got, d.want)
			}
			if got := noctx.String(); got != d.want+"\n" {
				t.Errorf("output without context = %s, want %s", got, d.want)
			}
			want := parseLines(t, bare.Bytes())[0]
			maps.Copy(want, wantContextAttrs())
			if got := parseLines(t, wrapped.Bytes())[0]; !reflect.DeepEqual(got, want) {
				t.Errorf("output with context = %s\nwant %v", wrapped.String(), want)
			}
		})
	}
}

func TestContextHandlerExactOutput(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := slog.New(NewContextHandler(newJSON(&buf)))
	ctx := taskTraceContext(t)
	l.InfoContext(ctx, "plain", "k", 1)
	l.WithGroup("g").With("a", "x").InfoContext(ctx, "grouped", "k", 1)

	want := `{"level":"INFO","msg":"plain","k":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","task_id":"t-1","task_type":"email:send","queue":"critical","retry":2}` + "\n" +
		`{"level":"INFO","msg":"grouped","g":{"a":"x","k":1},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","task_id":"t-1","task_type":"email:send","queue":"critical","retry":2}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestContextHandlerPartialContext(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want string
	}{
		{
			name: "Nothing",
			ctx:  func(*testing.T) context.Context { return t.Context() },
			want: `{"level":"INFO","msg":"m"}`,
		},
		{
			name: "TraceOnly",
			ctx:  func(t *testing.T) context.Context { return traceContext(t) },
			want: `{"level":"INFO","msg":"m","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}`,
		},
		{
			name: "TaskOnly",
			ctx: func(*testing.T) context.Context {
				return WithTask(t.Context(), TaskFields{ID: "t-9", Type: "img:resize", Queue: "low", Retry: 0})
			},
			want: `{"level":"INFO","msg":"m","task_id":"t-9","task_type":"img:resize","queue":"low","retry":0}`,
		},
		{
			name: "TaskIDOnly",
			ctx: func(*testing.T) context.Context {
				return WithTask(t.Context(), TaskFields{ID: "t-9"})
			},
			want: `{"level":"INFO","msg":"m","task_id":"t-9","retry":0}`,
		},
		{
			name: "InvalidSpanContext",
			ctx: func(*testing.T) context.Context {
				return traceContextInvalid()
			},
			want: `{"level":"INFO","msg":"m"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			slog.New(NewContextHandler(newJSON(&buf))).InfoContext(tt.ctx(t), "m")
			if got := buf.String(); got != tt.want+"\n" {
				t.Errorf("output = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestContextHandlerNilContext(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	h := NewContextHandler(newJSON(&buf))
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "m", 0)
	//nolint:staticcheck // a nil context must not panic when Handle is called directly.
	if err := h.Handle(nil, r); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got, want := buf.String(), `{"level":"INFO","msg":"m"}`+"\n"; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestContextHandlerSharedRecord(t *testing.T) {
	t.Parallel()

	// A record handed to two handlers (as a fan-out handler does) must not
	// pick up the first handler's context attributes twice.
	var buf1, buf2 bytes.Buffer
	h1 := NewContextHandler(newJSON(&buf1))
	h2 := NewContextHandler(newJSON(&buf2))
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.Int("a", 1), slog.Int("b", 2), slog.Int("c", 3), slog.Int("d", 4), slog.Int("e", 5), slog.Int("f", 6))
	ctx := WithTask(t.Context(), TaskFields{ID: "t-1"})
	for _, h := range []slog.Handler{h1, h2} {
		if err := h.Handle(ctx, r); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	want := `{"level":"INFO","msg":"m","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"task_id":"t-1","retry":0}` + "\n"
	if got := buf1.String(); got != want {
		t.Errorf("first output = %s, want %s", got, want)
	}
	if got := buf2.String(); got != want {
		t.Errorf("second output = %s, want %s", got, want)
	}
	if got := r.NumAttrs(); got != 6 {
		t.Errorf("record has %d attrs after Handle, want 6", got)
	}
}

func TestNewContextHandlerNoDoubleWrap(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	h := NewContextHandler(newJSON(&buf))
	if got := NewContextHandler(h); got != h {
		t.Errorf("NewContextHandler(ctxHandler) = %p, want the same handler %p", got, h)
	}
	slog.New(NewContextHandler(h)).InfoContext(WithTask(t.Context(), TaskFields{ID: "t-1"}), "m")
	if got, want := buf.String(), `{"level":"INFO","msg":"m","task_id":"t-1","retry":0}`+"\n"; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestNewContextHandlerNil(t *testing.T) {
	t.Parallel()

	h := NewContextHandler(nil)
	if h.Enabled(t.Context(), slog.LevelError) {
		t.Error("Enabled(error) = true for a nil next handler, want false")
	}
}

func TestContextHandlerEnabled(t *testing.T) {
	t.Parallel()

	h := NewContextHandler(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g := h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)})
	for _, hh := range []slog.Handler{h, g} {
		if hh.Enabled(t.Context(), slog.LevelInfo) {
			t.Error("Enabled(info) = true at warn level, want false")
		}
		if !hh.Enabled(t.Context(), slog.LevelWarn) {
			t.Error("Enabled(warn) = false at warn level, want true")
		}
	}
}

// countingValuer counts how often it is resolved.
type countingValuer struct{ n *atomic.Int64 }

func (c countingValuer) LogValue() slog.Value {
	c.n.Add(1)
	return slog.StringValue("resolved")
}

func TestContextHandlerResolvesWithAttrsOnce(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	var n atomic.Int64
	l := slog.New(NewContextHandler(newJSON(&buf))).WithGroup("g").With("v", countingValuer{n: &n})
	ctx := taskTraceContext(t)
	l.InfoContext(ctx, "one")
	l.InfoContext(t.Context(), "two")
	l.InfoContext(ctx, "three")
	if got := n.Load(); got != 1 {
		t.Errorf("LogValue called %d times, want 1", got)
	}
	lines := parseLines(t, buf.Bytes())
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3: %s", len(lines), buf.String())
	}
	for i, m := range lines {
		if got, want := m["g"], map[string]any{"v": "resolved"}; !reflect.DeepEqual(got, want) {
			t.Errorf("line %d: g = %v, want %v", i, got, want)
		}
	}
}

func TestContextHandlerReplaceAttrGroups(t *testing.T) {
	t.Parallel()

	// ReplaceAttr must see the context attributes with no groups, and the
	// record's attributes with the open groups, as it would without the
	// context handler.
	var buf bytes.Buffer
	var seen []string
	replace := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		if a.Key == KeyTaskID || a.Key == "k" {
			seen = append(seen, a.Key+"@"+strings.Join(groups, "."))
		}
		return a
	}
	l := slog.New(NewContextHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: replace})))
	l.WithGroup("g").WithGroup("h").InfoContext(WithTask(t.Context(), TaskFields{ID: "t-1"}), "m", "k", 1)

	if want := []string{"k@g.h", "task_id@"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("ReplaceAttr saw %q, want %q", seen, want)
	}
}

func TestTaskFromContext(t *testing.T) {
	t.Parallel()

	if f, ok := TaskFromContext(t.Context()); ok || f != (TaskFields{}) {
		t.Errorf("TaskFromContext(empty) = %+v, %t; want zero, false", f, ok)
	}
	want := TaskFields{ID: "t-1", Type: "email:send", Queue: "critical", Retry: 2}
	if f, ok := TaskFromContext(WithTask(t.Context(), want)); !ok || f != want {
		t.Errorf("TaskFromContext = %+v, %t; want %+v, true", f, ok, want)
	}
	//nolint:staticcheck // a nil context must not panic.
	if f, ok := TaskFromContext(nil); ok || f != (TaskFields{}) {
		t.Errorf("TaskFromContext(nil) = %+v, %t; want zero, false", f, ok)
	}
}
