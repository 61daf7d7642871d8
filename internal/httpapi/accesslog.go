package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// reqInfo is what a request's handlers tell the access log, and the trace
// context the caller sent.
type reqInfo struct {
	// token is the name of the token that authenticated the request.
	token string
	// traceID is the trace of the task created, when the caller sent no
	// trace of its own.
	traceID string
	// tasks is the number of tasks a batch enqueued.
	tasks int
	// traceparent and tracestate are the caller's valid trace headers, or
	// empty.
	traceparent, tracestate string
}

type reqInfoKey struct{}

// infoOf returns the reqInfo of the request's context; a throwaway one
// when there is none (a handler called without the access log).
func infoOf(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// traceHeaders returns the caller's trace headers to put on a task: an
// empty map when the caller sent none.
func (ri *reqInfo) traceHeaders() map[string]string {
	if ri.traceparent == "" {
		return nil
	}
	h := map[string]string{tasks.HeaderTraceparent: ri.traceparent}
	if ri.tracestate != "" {
		h[tasks.HeaderTracestate] = ri.tracestate
	}
	return h
}

// recorder captures the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog writes one JSON line per request: method, path, status,
// duration_ms, bytes, the token's name (never the token), and the trace.
// It also reads the caller's traceparent: a valid one makes the log line
// carry the caller's trace and is passed on to the tasks created.
func (h *Handler) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{}
		logCtx := r.Context()
		if r.Header.Get(tasks.HeaderTraceparent) != "" {
			tctx := traceContext.Extract(logCtx, propagation.HeaderCarrier(r.Header))
			if sc := trace.SpanContextFromContext(tctx); sc.IsValid() {
				logCtx = tctx
				carrier := propagation.MapCarrier{}
				traceContext.Inject(tctx, carrier)
				ri.traceparent, ri.tracestate = carrier[tasks.HeaderTraceparent], carrier[tasks.HeaderTracestate]
			}
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		attrs := make([]slog.Attr, 0, 9)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", rec.bytes),
			slog.String("remote", r.RemoteAddr),
		)
		if ri.token != "" {
			attrs = append(attrs, slog.String("token", ri.token))
		}
		if ri.traceID != "" && ri.traceparent == "" {
			attrs = append(attrs, slog.String("trace_id", ri.traceID))
		}
		if ri.tasks > 0 {
			attrs = append(attrs, slog.Int("tasks", ri.tasks))
		}
		h.logger.LogAttrs(logCtx, slog.LevelInfo, "http request", attrs...)
	})
}
