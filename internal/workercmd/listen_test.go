package workercmd

import (
	"bytes"
	"strings"
	"testing"
)

// TestMainRefusesMetricsWithoutToken: a non-loopback --listen without
// worker.metrics_token stops the worker at start with one line naming the
// key; with the token (from the environment) the check passes.
func TestMainRefusesMetricsWithoutToken(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), Env{
		Args:    []string{"--listen", "0.0.0.0:9464"},
		Environ: []string{"TUSKQ_REDIS_ADDR=127.0.0.1:1"},
		Stdout:  &stdout, Stderr: &stderr,
	})
	want := "worker: refusing to listen on 0.0.0.0:9464 without authentication: anyone who can reach it could read its metrics (queues, task types, error counts); " +
		"set worker.metrics_token (TUSKQ_WORKER_METRICS_TOKEN) and scrape /metrics with Authorization: Bearer TOKEN, or listen on loopback (--listen 127.0.0.1:9464)\n"
	if code != 2 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}

	stderr.Reset()
	code = Main(t.Context(), Env{
		Args:    []string{"--listen", "0.0.0.0:9464"},
		Environ: []string{"TUSKQ_REDIS_ADDR=127.0.0.1:1", "TUSKQ_WORKER_METRICS_TOKEN=scrape-0123456789abcdef"},
		Stdout:  &stdout, Stderr: &stderr,
	})
	if code == 0 || strings.Contains(stderr.String(), "refusing to listen") || strings.Contains(stderr.String(), "scrape-0123456789abcdef") {
		t.Fatalf("with a token: exit %d, stderr %q; want the Redis failure, not the listen refusal", code, stderr.String())
	}
}
