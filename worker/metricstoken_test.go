package worker_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

const scrapeToken = "scrape-0123456789abcdef"

// TestMetricsListenRule: like the monitor and the API, the worker refuses
// a non-loopback worker.listen without authentication (here the scrape
// token), naming the key; with the token it is accepted.
func TestMetricsListenRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, addr := range []string{"0.0.0.0:9464", ":9464", "[::]:9464", "10.1.2.3:9464"} {
		cfg := e.config()
		cfg.Worker.Listen = addr
		_, err := worker.New(e.options(t, cfg, tasks.NewRegistry()))
		if !errors.Is(err, httpserve.ErrInsecureListen) ||
			!strings.HasPrefix(err.Error(), "worker: refusing to listen on "+addr+" without authentication") ||
			!strings.Contains(err.Error(), "set worker.metrics_token (TUSKQ_WORKER_METRICS_TOKEN)") {
			t.Errorf("worker.listen %s without a token: %v", addr, err)
		}
		cfg.Worker.MetricsToken = scrapeToken
		if _, err := worker.New(e.options(t, cfg, tasks.NewRegistry())); err != nil {
			t.Errorf("worker.listen %s with a token: %v", addr, err)
		}
	}
	cfg := e.config()
	cfg.Worker.MetricsToken = "short"
	_, err := worker.New(e.options(t, cfg, tasks.NewRegistry()))
	if err == nil || !strings.Contains(err.Error(), "worker.metrics_token") || strings.Contains(err.Error(), "short") {
		t.Errorf("short token: %v", err)
	}
	// The token is a secret: printed configurations mask it.
	cfg.Worker.MetricsToken = scrapeToken
	var out bytes.Buffer
	if err := config.Write(&out, cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), scrapeToken) || !strings.Contains(out.String(), "metrics_token") {
		t.Errorf("printed configuration:\n%s", out.String())
	}
}

// TestMetricsToken: with worker.metrics_token set, /metrics answers only
// to the bearer token; the health endpoints stay open.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config()
	cfg.Worker.MetricsToken = scrapeToken
	w := start(t, e.options(t, cfg, tasks.NewRegistry()))
	scrape := func(auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+w.Addr()+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer wrong-0123456789abcdef", "Basic " + scrapeToken, "Bearer " + scrapeToken[:10]} {
		if code, body := scrape(auth); code != http.StatusUnauthorized || strings.Contains(body, "# HELP") {
			t.Errorf("/metrics with %q: %d %s", auth, code, body)
		}
	}
	if code, body := scrape("Bearer " + scrapeToken); code != http.StatusOK || !strings.Contains(body, "# HELP") {
		t.Errorf("/metrics with the token: %d %.200s", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, w.Worker, path); code != http.StatusOK {
			t.Errorf("%s without a token: %d %s", path, code, body)
		}
	}
}
