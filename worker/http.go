package worker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
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
//	GET /metrics  Prometheus metrics; with worker.metrics_token set, only
//	              to "Authorization: Bearer TOKEN" (401 otherwise)
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
	mux.Handle("GET /metrics", scrapeToken(w.cfg.Worker.MetricsToken,
		promhttp.HandlerFor(w.gatherer, promhttp.HandlerOpts{})))
	return mux
}

// checkListen applies the rule of every tuskq server to worker.listen: a
// non-loopback address requires authentication, here the scrape token.
func checkListen(wc config.WorkerConfig) error {
	if wc.Listen == "" {
		return nil
	}
	return httpserve.CheckListen(wc.Listen, httpserve.ListenRule{
		Server: "worker", Key: "worker.listen", Example: "127.0.0.1:9464", Auth: wc.MetricsToken != "",
		Risk:    "anyone who can reach it could read its metrics (queues, task types, error counts)",
		Fix:     "set worker.metrics_token (TUSKQ_WORKER_METRICS_TOKEN) and scrape /metrics with Authorization: Bearer TOKEN",
		Invalid: ErrBadOptions,
	})
}

// scrapeToken serves next only to requests bearing token; an empty token
// lets every request in. The comparison takes the same time whatever the
// token sent.
func scrapeToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="tuskq worker metrics"`)
			httpserve.Plain(rw, http.StatusUnauthorized,
				"worker: /metrics requires the scrape token of worker.metrics_token; send Authorization: Bearer TOKEN\n")
			return
		}
		next.ServeHTTP(rw, r)
	})
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
