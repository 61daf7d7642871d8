package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// WebhookStats counts the calls the demo's webhook endpoint received.
type WebhookStats struct {
	// Calls is the number of requests received.
	Calls int
	// ByStatus counts the responses by HTTP status code.
	ByStatus map[int]int
	// Traced counts the requests that carried a traceparent header.
	Traced int
}

// String formats the stats as "40 calls (200: 30, 404: 4, 503: 6), 40 with a traceparent".
func (s WebhookStats) String() string {
	codes := make([]int, 0, len(s.ByStatus))
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, s.ByStatus[c]))
	}
	out := fmt.Sprintf("%d calls", s.Calls)
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out + fmt.Sprintf(", %d with a traceparent", s.Traced)
}

// webhookStatus is the answer to the n-th call (0-based), in a fixed cycle
// of ten: seven 200s, two 503s (retried by http:request) and one 404 (not
// retried, so the task is archived).
func webhookStatus(n int) int {
	switch n % 10 {
	case 3, 8:
		return http.StatusServiceUnavailable
	case 6:
		return http.StatusNotFound
	default:
		return http.StatusOK
	}
}

// webhook is the local test endpoint the http:request tasks call.
type webhook struct {
	srv  *http.Server
	ln   net.Listener
	done chan error

	mu    sync.Mutex
	stats WebhookStats
}

// startWebhook serves the endpoint on a free loopback port.
func startWebhook() (*webhook, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint: listen on a loopback port: %w", err)
	}
	w := &webhook{ln: ln, done: make(chan error, 1), stats: WebhookStats{ByStatus: map[int]int{}}}
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second}
	go func() { w.done <- w.srv.Serve(ln) }()
	return w, nil
}

// Addr returns host:port of the endpoint, the entry for the allow-list.
func (w *webhook) Addr() string { return w.ln.Addr().String() }

// URL returns the URL the demo's http:request tasks call.
func (w *webhook) URL() string { return "http://" + w.Addr() + "/hook" }

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	w.mu.Lock()
	status := webhookStatus(w.stats.Calls)
	w.stats.Calls++
	w.stats.ByStatus[status]++
	if r.Header.Get("traceparent") != "" {
		w.stats.Traced++
	}
	w.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = fmt.Fprintf(rw, "{\"status\":%d}\n", status)
}

// Stats returns a copy of the counters.
func (w *webhook) Stats() WebhookStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.ByStatus = make(map[int]int, len(w.stats.ByStatus))
	for k, v := range w.stats.ByStatus {
		s.ByStatus[k] = v
	}
	return s
}

// Close stops the endpoint, waiting up to two seconds for calls in flight.
func (w *webhook) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	if serr := <-w.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("webhook endpoint: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("webhook endpoint: shut down: %w", err)
	}
	return nil
}
