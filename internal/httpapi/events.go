package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/events"
)

// PathEvents is the live event stream.
const PathEvents = "/v1/events"

// events serves GET /v1/events: the live event log as Server-Sent Events
// (docs/events.md). Each event's SSE id is the reader's cursor after it,
// which a client sends back in Last-Event-ID (or the last_event_id query
// parameter) to resume where it stopped; its SSE event is the event's
// kind and its data the event as JSON. A comment line goes out every
// heartbeat interval when nothing happens. A token limited to some queues
// or task types sees only their events, and asking for others is a 403.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	filter := events.Filter{
		Queues:     q["queue"],
		Types:      q["type"],
		TaskID:     q.Get("task_id"),
		WorkflowID: q.Get("workflow_id"),
	}
	var errs []FieldError
	for _, name := range []string{"queue", "type"} {
		for _, v := range q[name] {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, FieldError{Field: name, Detail: "is empty; leave the parameter out to see every " + name})
			}
		}
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = q.Get("last_event_id")
	}
	if cursor != "" {
		if _, err := events.ParseCursor(cursor); err != nil {
			errs = append(errs, FieldError{Field: "Last-Event-ID", Detail: err.Error()})
		}
	}
	if len(errs) > 0 {
		writeProblem(w, invalid(errs...))
		return
	}
	for _, queue := range filter.Queues {
		if prob := p.scope("", queue, ""); prob != nil {
			writeProblem(w, prob)
			return
		}
	}
	for _, typ := range filter.Types {
		if !p.allowType(typ) {
			writeProblem(w, newProblem(ProblemForbidden, http.StatusForbidden,
				fmt.Sprintf("token %q may not use task type %q; it is limited to task types %s", p.name, typ, strings.Join(p.types, ", ")),
				FieldError{Field: "type", Detail: fmt.Sprintf("task type %q is outside the token's scope (task types %s)", typ, strings.Join(p.types, ", "))}))
			return
		}
	}
	if p.queues != nil && len(filter.Queues) == 0 {
		filter.Queues = slices.Clone(p.queues)
	}
	if p.types != nil {
		filter.Allow = func(ev events.Event) bool { return ev.TaskType != "" && p.allowType(ev.TaskType) }
	}
	select {
	case h.streams <- struct{}{}:
		defer func() { <-h.streams }()
	default:
		writeProblem(w, newProblem(ProblemUnavailable, http.StatusServiceUnavailable, fmt.Sprintf(
			"the server already serves %d event streams; retry later", cap(h.streams))))
		return
	}
	ctx := r.Context()
	reader, err := events.NewReader(ctx, h.eventsRdb, events.ReaderOptions{
		Filter: filter, Cursor: cursor, Block: h.opts.EventsHeartbeat,
	})
	if err != nil {
		writeProblem(w, h.unavailable(ctx, err))
		return
	}
	rc := http.NewResponseController(w)
	// An event stream lasts: the server's write timeout must not end it.
	_ = rc.SetWriteDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf []byte
	buf = append(buf, "retry: 1000\n: tuskq events\n\n"...)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		items, err := reader.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, ctx.Err()) {
				h.logger.WarnContext(ctx, "event stream ended: Redis failed", "error", err)
			}
			return
		}
		buf = buf[:0]
		if len(items) == 0 {
			buf = append(buf, ": heartbeat\n\n"...)
			continue
		}
		for _, it := range items {
			data, err := events.Encode(it.Event)
			if err != nil {
				continue
			}
			buf = append(buf, "id: "...)
			buf = append(buf, it.Cursor...)
			buf = append(buf, "\nevent: "...)
			buf = append(buf, it.Kind...)
			buf = append(buf, "\ndata: "...)
			buf = append(buf, data...)
			buf = append(buf, "\n\n"...)
		}
	}
}
