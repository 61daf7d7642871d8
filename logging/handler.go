package logging

import (
	"context"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the attributes the context handler adds to records.
const (
	KeyTraceID  = "trace_id"
	KeySpanID   = "span_id"
	KeyTaskID   = "task_id"
	KeyTaskType = "task_type"
	KeyQueue    = "queue"
	KeyRetry    = "retry"
	// KeySchedule names the schedule of a periodic task.
	KeySchedule = "schedule"
)

// maxContextAttrs is the most attributes appendContextAttrs adds.
const maxContextAttrs = 7

// contextHandler adds trace and task attributes from the context to every
// record, at the top level of the record whatever groups are open.
//
// It keeps two views of the wrapped handler:
//
//   - base has only the attributes added before the first WithGroup, so a
//     record handled by it has no open group;
//   - full has every WithAttrs and WithGroup applied, exactly as if it were
//     used on its own.
//
// With no group open the two are the same handler and the context attributes
// are simply appended to the record. With groups open, a record whose
// context holds no trace or task goes to full unchanged (fast, preformatted
// attributes); otherwise the groups and the attributes added inside them
// (frames) are replayed as nested group values around the record's own
// attributes and the result goes to base beside the context attributes.
type contextHandler struct {
	base   slog.Handler
	full   slog.Handler
	frames []frame
}

// frame is one group opened by WithGroup and the attributes added while it
// was the innermost open group.
type frame struct {
	name  string
	attrs []slog.Attr
}

// NewContextHandler returns a handler that passes records to next after
// adding, from the record's context, trace_id and span_id (when the
// OpenTelemetry span context is valid) and task_id, task_type, queue and
// retry (when [WithTask] stored task fields; empty strings are left out).
// Only the attributes present are added, after the record's own attributes
// and always at the top level of the record, even inside groups opened with
// WithGroup.
//
// Wrapping a handler that NewContextHandler already returned returns it
// unchanged. A nil next discards every record.
func NewContextHandler(next slog.Handler) slog.Handler {
	if next == nil {
		next = slog.DiscardHandler
	}
	if h, ok := next.(*contextHandler); ok {
		return h
	}
	return &contextHandler{base: next, full: next}
}

// Enabled reports whether the wrapped handler handles records at level l.
func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.full.Enabled(ctx, l)
}

// Handle adds the context attributes to r and passes it on.
func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf [maxContextAttrs]slog.Attr
	extra := appendContextAttrs(ctx, buf[:0])
	switch {
	case len(extra) == 0:
		return h.full.Handle(ctx, r)
	case len(h.frames) == 0:
		r = r.Clone() // the caller may share r's attribute array
		r.AddAttrs(extra...)
		return h.base.Handle(ctx, r)
	default:
		return h.base.Handle(ctx, h.regroup(r, extra))
	}
}

// WithAttrs returns a handler whose records also carry attrs, inside the
// groups opened so far.
func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.frames) == 0 {
		next := h.base.WithAttrs(attrs)
		return &contextHandler{base: next, full: next}
	}
	// Resolve once so that a LogValuer runs once, as it would with the
	// wrapped handler alone, and both views see the same values.
	attrs = resolveAttrs(attrs)
	frames := slices.Clone(h.frames)
	last := &frames[len(frames)-1]
	last.attrs = slices.Concat(last.attrs, attrs)
	return &contextHandler{base: h.base, full: h.full.WithAttrs(attrs), frames: frames}
}

// WithGroup returns a handler that nests the attributes added later, and
// those of each record, in the group name. The context attributes stay at
// the top level.
func (h *contextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	frames := append(slices.Clip(h.frames), frame{name: name})
	return &contextHandler{base: h.base, full: h.full.WithGroup(name), frames: frames}
}

// regroup returns a record with the attributes of r nested in h's frames,
// followed by extra at the top level.
func (h *contextHandler) regroup(r slog.Record, extra []slog.Attr) slog.Record {
	inner := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		inner = append(inner, a)
		return true
	})
	for i := len(h.frames) - 1; i >= 0; i-- {
		f := h.frames[i]
		content := inner
		if len(f.attrs) > 0 {
			content = slices.Concat(f.attrs, inner)
		}
		// GroupValue drops empty groups, so an empty frame disappears just
		// as it does with the wrapped handler alone.
		inner = []slog.Attr{{Key: f.name, Value: slog.GroupValue(content...)}}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(inner...)
	out.AddAttrs(extra...)
	return out
}

// appendContextAttrs appends the trace and task attributes held by ctx to
// dst, at most maxContextAttrs of them.
func appendContextAttrs(ctx context.Context, dst []slog.Attr) []slog.Attr {
	if ctx == nil {
		return dst
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		dst = append(dst,
			slog.String(KeyTraceID, sc.TraceID().String()),
			slog.String(KeySpanID, sc.SpanID().String()),
		)
	}
	if f, ok := TaskFromContext(ctx); ok {
		if f.ID != "" {
			dst = append(dst, slog.String(KeyTaskID, f.ID))
		}
		if f.Type != "" {
			dst = append(dst, slog.String(KeyTaskType, f.Type))
		}
		if f.Queue != "" {
			dst = append(dst, slog.String(KeyQueue, f.Queue))
		}
		dst = append(dst, slog.Int(KeyRetry, f.Retry))
		if f.Schedule != "" {
			dst = append(dst, slog.String(KeySchedule, f.Schedule))
		}
	}
	return dst
}

// resolveAttrs returns a copy of attrs with every LogValuer resolved,
// recursively inside groups.
func resolveAttrs(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = slog.Attr{Key: a.Key, Value: resolveValue(a.Value)}
	}
	return out
}

// resolveValue resolves v and, if it is a group, its members.
func resolveValue(v slog.Value) slog.Value {
	v = v.Resolve()
	if v.Kind() == slog.KindGroup {
		return slog.GroupValue(resolveAttrs(v.Group())...)
	}
	return v
}
