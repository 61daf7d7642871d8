package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tuskq/tuskq/internal/redisconn"
)

// ReadyTimeout bounds the Redis PING of one /readyz request.
const ReadyTimeout = time.Second

// HTTPHandler returns the handler Run serves on worker.listen, for callers
// that mount it in a server of their own (with worker.listen empty):
//
//	GET /healthz  200 {"status":"ok"} while the process runs
//	GET /readyz   200 {"status":"ready"} when Redis answers PING within
//	              ReadyTimeout and the worker is running and not paused or
//	              stopping; otherwise 503 {"status":"unavailable","reason":…}
//	GET /metrics  Prometheus metrics
func (w *Worker) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, status{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if reason := w.notReady(r.Context()); reason != "" {
			writeJSON(rw, http.StatusServiceUnavailable, status{Status: "unavailable", Reason: reason})
			return
		}
		writeJSON(rw, http.StatusOK, status{Status: "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.gatherer, promhttp.HandlerOpts{}))
	return mux
}

// notReady returns why the worker should not receive traffic, or "".
func (w *Worker) notReady(ctx context.Context) string {
	w.mu.Lock()
	st, rdb := w.state, w.rdb
	w.mu.Unlock()
	switch st {
	case stateNew:
		return "worker is starting"
	case statePaused:
		return "worker is paused: it fetches no new tasks"
	case stateStopping, stateStopped:
		return "worker is shutting down"
	}
	if err := w.ping(ctx, rdb, ReadyTimeout); err != nil {
		return "redis at " + redisconn.Describe(w.cfg.Redis) + ": " + err.Error()
	}
	return ""
}

// status is the body of /healthz and /readyz.
type status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func writeJSON(rw http.ResponseWriter, code int, v status) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	// The client may be gone; there is nobody to report a failed write to.
	_ = json.NewEncoder(rw).Encode(v)
}
