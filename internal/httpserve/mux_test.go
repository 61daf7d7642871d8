package httpserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMux(t *testing.T) {
	t.Parallel()
	m := NewMux()
	m.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		Plain(w, http.StatusOK, "thing "+r.PathValue("id"))
	})
	m.HandleFunc("DELETE /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		Plain(w, http.StatusOK, "deleted")
	})
	m.NotFound = func(w http.ResponseWriter, r *http.Request) { Plain(w, http.StatusNotFound, "custom 404 "+r.URL.Path) }
	m.MethodNotAllowed = func(w http.ResponseWriter, r *http.Request, allow []string) {
		Plain(w, http.StatusMethodNotAllowed, "custom 405: "+strings.Join(allow, "|"))
	}
	for _, c := range []struct{ method, path, body, allow string }{
		{"GET", "/v1/things/7", "thing 7", ""},
		{"DELETE", "/v1/things/7", "deleted", ""},
		{"POST", "/v1/things/7", "custom 405: DELETE|GET|HEAD", "DELETE, GET, HEAD"},
		{"GET", "/v1/nothing", "custom 404 /v1/nothing", ""},
	} {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if got := w.Body.String(); got != c.body || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s = %q (Allow %q), want %q (Allow %q)", c.method, c.path, got, w.Header().Get("Allow"), c.body, c.allow)
		}
	}
	// Redirects to the clean path stay ServeMux's.
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/x/../things/7", nil))
	if w.Code/100 != 3 {
		t.Errorf("unclean path: %d, want a redirect", w.Code)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	var down error
	var logs strings.Builder
	h := NewHealth(func(context.Context) error { return down }, slog.New(slog.NewTextHandler(&logs, nil)))
	get := func(f http.HandlerFunc) (int, string) {
		w := httptest.NewRecorder()
		f(w, httptest.NewRequest(http.MethodGet, "/", nil))
		b, _ := io.ReadAll(w.Body)
		return w.Code, string(b)
	}
	if c, b := get(h.Readyz); c != 200 || b != "ok\n" {
		t.Errorf("readyz = %d %q", c, b)
	}
	down = errors.New("boom")
	if c, b := get(h.Readyz); c != 503 || b != "redis unreachable\n" {
		t.Errorf("readyz down = %d %q", c, b)
	}
	get(h.Readyz)
	if n := strings.Count(logs.String(), "redis unreachable"); n != 1 {
		t.Errorf("%d lines about Redis unreachable, want 1 (changes only):\n%s", n, logs.String())
	}
	if c, b := get(h.Healthz); c != 200 || b != "ok\n" {
		t.Errorf("healthz while Redis is down = %d %q", c, b)
	}
	down = nil
	get(h.Readyz)
	if !strings.Contains(logs.String(), "redis reachable again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}
