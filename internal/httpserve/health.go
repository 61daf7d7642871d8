package httpserve

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
)

// Plain writes a short text/plain answer that no cache keeps.
func Plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// Health serves the health endpoints of a server whose readiness is
// "Redis answers": /healthz (liveness) and /readyz (readiness).
type Health struct {
	ping   func(context.Context) error
	logger *slog.Logger
	// ready remembers the last readiness outcome so that only changes are
	// logged, not every probe.
	ready atomic.Bool
}

// NewHealth returns the health endpoints of a server whose readiness is
// that ping returns nil. Changes of readiness are logged to logger.
func NewHealth(ping func(context.Context) error, logger *slog.Logger) *Health {
	h := &Health{ping: ping, logger: logger}
	h.ready.Store(true)
	return h
}

// SetReady records a readiness outcome found elsewhere (a check at start),
// so that the next probe logs a change from it.
func (h *Health) SetReady(ready bool) { h.ready.Store(ready) }

// Healthz is liveness: 200 "ok" while the process serves HTTP.
func (h *Health) Healthz(w http.ResponseWriter, _ *http.Request) {
	Plain(w, http.StatusOK, "ok\n")
}

// Readyz is readiness: 200 "ok" when Redis answers, 503 "redis
// unreachable" otherwise. Changes of outcome are logged.
func (h *Health) Readyz(w http.ResponseWriter, r *http.Request) {
	err := h.ping(r.Context())
	was := h.ready.Swap(err == nil)
	switch {
	case err != nil && was:
		h.logger.WarnContext(r.Context(), "redis unreachable: /readyz reports 503", "error", err)
	case err == nil && !was:
		h.logger.InfoContext(r.Context(), "redis reachable again: /readyz reports 200")
	}
	if err != nil {
		Plain(w, http.StatusServiceUnavailable, "redis unreachable\n")
		return
	}
	Plain(w, http.StatusOK, "ok\n")
}
